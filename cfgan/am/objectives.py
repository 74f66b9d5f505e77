"""What activation maximisation maximises: a class score, or one unit of a named classifier layer.

A batch holds several targets at once (targets x restarts), so ``TargetScore`` maps every batch item to
its own target and returns one score per item from a single classifier pass. Layer units are read with
forward hooks on ``classifier.model``, looked up by module name (as ``named_modules`` spells it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import nn

CLASS_SCORES = ("logprob", "logit", "prob")


@dataclass(frozen=True)
class ClassTarget:
    """A class of the classifier, maximised as its log-probability, logit or probability."""

    index: int
    name: str

    @property
    def label(self) -> str:
        return self.name

    @property
    def slug(self) -> str:
        return f"class{self.index:02d}-{_slug(self.name)}"


@dataclass(frozen=True)
class Unit:
    """Unit ``index`` of layer ``layer``: a channel's mean activation (conv maps [N, C, H, W]) or, with
    ``position=(row, col)``, the single neuron there; for flat outputs [N, D], neuron ``index``."""

    layer: str
    index: int
    position: Optional[tuple] = None

    @property
    def label(self) -> str:
        where = "" if self.position is None else f"@{self.position[0]},{self.position[1]}"
        return f"{self.layer}[{self.index}{where}]"

    @property
    def slug(self) -> str:
        return f"unit-{_slug(self.layer)}-{self.index}"


Target = Union[ClassTarget, Unit]


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in str(text)).strip("-").lower() or "x"


def layer_names(classifier) -> List[str]:
    """Names of the hookable submodules of ``classifier.model`` (what ``Unit.layer`` may be)."""
    return [name for name, _ in classifier.model.named_modules() if name]


def _module(classifier, layer: str) -> nn.Module:
    modules = dict(classifier.model.named_modules())
    if layer not in modules or not layer:
        names = layer_names(classifier)
        shown = ", ".join(names[:25]) + (f", ... ({len(names)} in all)" if len(names) > 25 else "")
        raise ValueError(f"unknown layer {layer!r} of classifier {classifier.name}; valid layer names: "
                         f"{shown or '(the model has no submodules)'}")
    return modules[layer]


def resolve_targets(classifier, targets: Sequence) -> List[Target]:
    """Turn user targets (class names, indices, digit strings, ``Unit``s) into checked target objects."""
    if isinstance(targets, (str, int, Unit, ClassTarget)):
        targets = [targets]
    targets = list(targets)
    if not targets:
        raise ValueError("no targets given: name at least one class or layer unit")
    resolved: List[Target] = []
    for t in targets:
        if isinstance(t, ClassTarget):
            t = t.index
        if isinstance(t, Unit):
            if isinstance(t.index, bool) or not isinstance(t.index, int) or t.index < 0:
                raise ValueError(f"unit index must be a non-negative int, got {t.index!r}")
            if t.position is not None and len(t.position) != 2:
                raise ValueError(f"unit position must be (row, col), got {t.position!r}")
            _module(classifier, t.layer)
            resolved.append(t)
        else:
            index = classifier.class_index(t)
            resolved.append(ClassTarget(index, classifier.class_name(index)))
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"targets repeat: {[t.label for t in resolved]}")
    return resolved


def all_classes(classifier) -> List[ClassTarget]:
    """Every class of ``classifier`` (needs class names or one forward pass to know K)."""
    k = classifier.num_classes
    if k is None:
        raise ValueError(f"classifier {classifier.name} does not declare its classes: name them explicitly")
    return [ClassTarget(i, classifier.class_name(i)) for i in range(k)]


class _Capture:
    """Forward hooks that keep the outputs of named layers during one classifier pass."""

    def __init__(self, classifier, layers: Sequence[str]):
        self.modules = {name: _module(classifier, name) for name in layers}
        self.outputs: Dict[str, torch.Tensor] = {}
        self.handles = []

    def __enter__(self):
        for name, module in self.modules.items():
            try:
                self.handles.append(module.register_forward_hook(self._hook(name)))
            except (RuntimeError, AttributeError) as err:
                self.close()
                raise ValueError(f"cannot hook layer {name!r} (TorchScript modules do not support "
                                 f"hooks): {err}") from err
        return self

    def _hook(self, name):
        def keep(module, inputs, output):
            if torch.is_tensor(output):
                # clone: a following in-place op (ReLU(inplace=True)) must not change what was captured
                self.outputs[name] = output.clone()
        return keep

    def close(self):
        for h in self.handles:
            h.remove()
        self.handles = []

    def __exit__(self, *exc):
        self.close()


class TargetScore:
    """Per-item score [N] of images [N, C, H, W]: item i is scored for ``targets[assignment[i]]``.

    ``class_score`` picks what a class target maximises: ``logprob`` (default: rises until the class
    wins outright, then saturates), ``logit`` (unbounded; other classes may rise too) or ``prob``.
    After each call ``last_logits`` holds the class logits of the batch (detached).
    """

    def __init__(self, classifier, targets: Sequence[Target], assignment: torch.Tensor,
                 class_score: str = "logprob"):
        if class_score not in CLASS_SCORES:
            raise ValueError(f"class_score must be one of {', '.join(CLASS_SCORES)}, got {class_score!r}")
        self.classifier, self.targets, self.class_score = classifier, list(targets), class_score
        self.assignment = torch.as_tensor(assignment, dtype=torch.long).cpu()
        self.layers = sorted({t.layer for t in self.targets if isinstance(t, Unit)})
        self.last_logits: Optional[torch.Tensor] = None
        self._checked = False

    def __call__(self, images: torch.Tensor, items: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Scores [n]; ``items`` (batch indices of these images, under a memory bound) default to all."""
        assignment = self.assignment if items is None else self.assignment[torch.as_tensor(items).cpu()]
        if images.shape[0] != len(assignment):
            raise ValueError(f"TargetScore was built for {len(assignment)} items, got {images.shape[0]}")
        class_values, outputs = self._evaluate(images, items)
        score = torch.zeros(images.shape[0], device=class_values.device, dtype=class_values.dtype)
        for t_index, target in enumerate(self.targets):
            rows = (assignment == t_index).nonzero().flatten().to(class_values.device)
            if rows.numel() == 0:
                continue
            score = score.index_put((rows,), self._target_values(target, class_values, outputs, rows))
        return score

    def matrix(self, images: torch.Tensor) -> torch.Tensor:
        """Every image scored for every target: [M, T] (used to pick good starting points)."""
        class_values, outputs = self._evaluate(images)
        rows = torch.arange(images.shape[0], device=class_values.device)
        return torch.stack([self._target_values(t, class_values, outputs, rows) for t in self.targets], 1)

    def _evaluate(self, images: torch.Tensor, items: Optional[torch.Tensor] = None):
        with _Capture(self.classifier, self.layers) as cap:
            logits = self.classifier(images)
        if items is None:
            self.last_logits = logits.detach()
        else:  # a chunk: its rows of the whole batch's logits
            n = len(self.assignment)
            if self.last_logits is None or self.last_logits.shape != (n, logits.shape[1]):
                self.last_logits = logits.new_zeros(n, logits.shape[1])
            self.last_logits[torch.as_tensor(items).to(logits.device)] = logits.detach()
        if not self._checked:
            self._check_units(cap.outputs)
        if self.class_score == "logprob":
            return logits.log_softmax(1), cap.outputs
        if self.class_score == "prob":
            return logits.softmax(1), cap.outputs
        return logits, cap.outputs

    def reached(self, threshold: float) -> torch.Tensor:
        """bool [N]: class items whose target probability in the last call is at least ``threshold``
        (unit items never count as reached)."""
        if self.last_logits is None:
            return torch.zeros(len(self.assignment), dtype=torch.bool)
        probs = self.last_logits.softmax(1).cpu()
        out = torch.zeros(len(self.assignment), dtype=torch.bool)
        for t_index, target in enumerate(self.targets):
            if isinstance(target, ClassTarget):
                rows = self.assignment == t_index
                out[rows] = probs[rows, target.index] >= threshold
        return out

    @staticmethod
    def _target_values(target: Target, class_values, outputs, rows) -> torch.Tensor:
        if isinstance(target, ClassTarget):
            return class_values[rows, target.index]
        return unit_value(outputs[target.layer][rows], target).to(class_values.dtype)

    def _check_units(self, outputs: Dict[str, torch.Tensor]) -> None:
        for target in self.targets:
            if not isinstance(target, Unit):
                continue
            out = outputs.get(target.layer)
            if out is None:
                raise ValueError(f"layer {target.layer!r} produced no tensor output during the forward pass "
                                 f"(it is not used by forward, or returns a tuple)")
            if out.dim() < 2 or target.index >= out.shape[1]:
                raise ValueError(f"unit {target.index} is out of range: layer {target.layer!r} outputs shape "
                                 f"{list(out.shape[1:])} per image ({out.shape[1] if out.dim() > 1 else 0} "
                                 "units)")
            if target.position is not None:
                if out.dim() != 4:
                    raise ValueError(f"a unit position needs a spatial layer output [N, C, H, W]; layer "
                                     f"{target.layer!r} outputs {list(out.shape[1:])}")
                r, c = target.position
                if not (0 <= r < out.shape[2] and 0 <= c < out.shape[3]):
                    raise ValueError(f"position {target.position} is outside layer {target.layer!r}'s "
                                     f"{out.shape[2]}x{out.shape[3]} map")
        self._checked = True


def unit_value(activation: torch.Tensor, unit: Unit) -> torch.Tensor:
    """The unit's value per image: channel mean, a single spatial neuron, or a flat neuron."""
    a = activation[:, unit.index]
    if unit.position is not None:
        return a[:, unit.position[0], unit.position[1]]
    return a.reshape(a.shape[0], -1).mean(1)


def assignment_for(num_targets: int, restarts: int) -> torch.Tensor:
    """Item -> target index for a batch laid out target-major: [t0 r0, t0 r1, ..., t1 r0, ...]."""
    return torch.arange(num_targets).repeat_interleave(restarts)


def targets_from_options(classifier, classes: Sequence[str] = (), layer: Optional[str] = None,
                         units: Sequence[int] = (), probe: Optional[torch.Tensor] = None) -> List[Target]:
    """Targets from command-line style options: class names/indices or 'all', plus units of one layer.

    ``probe`` (a few images) lets 'all' work for classifiers that do not name their classes.
    """
    if units and not layer:
        raise ValueError("--unit needs --layer NAME (the layer whose channels/neurons to maximise)")
    if layer and not units:
        raise ValueError(f"--layer {layer} needs at least one --unit K (a channel or neuron index)")
    if not classes and not layer:
        raise ValueError("nothing to maximise: give --class NAME|INDEX|all (repeatable) "
                         "or --layer NAME --unit K")
    chosen: List = []
    for item in classes:
        if str(item).strip().lower() == "all":
            if classifier.num_classes is None and probe is not None:
                with torch.no_grad():
                    classifier(probe)
            chosen += all_classes(classifier)
        else:
            chosen.append(item)
    chosen += [Unit(layer, int(k)) for k in units]
    # 'all' plus an explicit class would repeat it; keep the first mention
    unique, seen = [], set()
    for t in resolve_targets_lenient(classifier, chosen):
        if t not in seen:
            unique.append(t)
            seen.add(t)
    return unique


def resolve_targets_lenient(classifier, targets: Sequence) -> List[Target]:
    """``resolve_targets`` one by one (so duplicates are allowed here and removed by the caller)."""
    return [resolve_targets(classifier, [t])[0] for t in targets]
