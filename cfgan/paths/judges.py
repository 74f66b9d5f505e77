"""Judges: independent classifiers that tell a genuine change from a blind spot of the explained classifier.

A path is built to move the explained classifier f across its boundary. Whether the image really changed
towards the target class, or the path found a direction only f is sensitive to (a blind spot), is a
question for classifiers that took no part in building it. Every frame of every path is shown to each judge,
and each crossed path gets a label from the judges' verdicts on its last frame:

- ``genuine``: every judge classifies the last frame as the target class;
- ``blind-spot``: no judge does;
- ``mixed``: some judges do and some do not (only possible with two or more judges).

Paths that did not cross get no label (``None``): there is no change of f's decision to judge. A judge that
already assigns the *subject* (frame 0) to the target class cannot tell anything about the change; the path
then carries a note saying so, and the label stands as defined.

A judge's target is the class with the target's name when both classifiers name their classes, else the
same index.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch

GENUINE, BLIND_SPOT, MIXED = "genuine", "blind-spot", "mixed"
LABELS = (GENUINE, BLIND_SPOT, MIXED)


def judge_target(judge, explained, target: int, option: str = "--judge") -> int:
    """The judge's class index for the explained classifier's class ``target``."""
    names, judge_names = getattr(explained, "class_names", None), getattr(judge, "class_names", None)
    if names and judge_names:
        name = names[target]
        lowered = [n.lower() for n in judge_names]
        if name.lower() not in lowered:
            raise ValueError(f"{option} {judge.name}: the judge has no class {name!r} (its classes: "
                             f"{', '.join(judge_names)})")
        return lowered.index(name.lower())
    k = getattr(judge, "num_classes", None)
    if k is not None and target >= k:
        raise ValueError(f"{option} {judge.name}: class index {target} is out of range for a judge with {k} "
                         "classes")
    return int(target)


def load_judges(specs: Sequence, explained, device=None) -> List:
    """Classifiers from ``specs`` (anything ``load_classifier`` accepts), with distinct names."""
    from cfgan.classifiers import load_classifier

    judges, names = [], set()
    for spec in specs:
        judge = load_classifier(spec, device=device)
        if judge is explained:
            raise ValueError("--judge: a classifier cannot judge its own paths; give an independent one")
        name, k = judge.name, 2
        while name in names:
            name, k = f"{judge.name}-{k}", k + 1
        judge.name = name
        names.add(name)
        judges.append(judge)
    return judges


@dataclass
class JudgeVerdicts:
    """What the judges said about N paths of T frames."""

    names: List[str]
    probs: Dict[str, torch.Tensor]  # judge -> [N, T] probability of the (judge's) target class
    predicted: Dict[str, torch.Tensor]  # judge -> [N, T] class index per frame
    targets: Dict[str, torch.Tensor]  # judge -> [N] the judge's target class per path
    class_names: Dict[str, Optional[List[str]]]

    def agrees_at_end(self, name: str) -> torch.Tensor:
        """bool [N]: the judge classifies the last frame as the target."""
        return self.predicted[name][:, -1] == self.targets[name]

    def target_at_start(self, name: str) -> torch.Tensor:
        return self.predicted[name][:, 0] == self.targets[name]

    def labels(self, crossed: torch.Tensor) -> List[Optional[str]]:
        """One label per path (``None`` for paths that did not cross); see the module docstring."""
        agree = torch.stack([self.agrees_at_end(n) for n in self.names], 1)  # [N, J]
        out: List[Optional[str]] = []
        for i in range(agree.shape[0]):
            if not bool(crossed[i]):
                out.append(None)
            elif bool(agree[i].all()):
                out.append(GENUINE)
            elif not bool(agree[i].any()):
                out.append(BLIND_SPOT)
            else:
                out.append(MIXED)
        return out

    def path_report(self, i: int) -> Dict[str, dict]:
        out = {}
        for name in self.names:
            names = self.class_names[name]
            pred = [int(v) for v in self.predicted[name][i]]
            out[name] = {"target": int(self.targets[name][i]),
                         "probs": [float(v) for v in self.probs[name][i]],
                         "predicted": pred,
                         "predicted_names": [names[k] if names else str(k) for k in pred],
                         "agrees_at_end": bool(self.agrees_at_end(name)[i]),
                         "target_at_start": bool(self.target_at_start(name)[i])}
        return out


@torch.no_grad()
def judge_frames(judges: Sequence, explained, frames: torch.Tensor, targets: Sequence[int],
                 chunk: int = 256) -> JudgeVerdicts:
    """Show every frame [N, T, C, H, W] to every judge; ``targets``: the explained classifier's class per path."""
    n, t = frames.shape[:2]
    flat = frames.reshape(n * t, *frames.shape[2:])
    probs, predicted, target_map, class_names = {}, {}, {}, {}
    for judge in judges:
        device = next((p.device for p in judge.parameters()), torch.device("cpu"))
        jt = torch.tensor([judge_target(judge, explained, int(c)) for c in targets])
        logits = torch.cat([judge(flat[s:s + chunk].to(device)).float().cpu() for s in range(0, n * t, chunk)])
        p = logits.softmax(1)
        owners = torch.arange(n).repeat_interleave(t)
        probs[judge.name] = p.gather(1, jt[owners].reshape(-1, 1)).reshape(n, t)
        predicted[judge.name] = logits.argmax(1).reshape(n, t)
        target_map[judge.name] = jt
        class_names[judge.name] = list(judge.class_names) if getattr(judge, "class_names", None) else None
    return JudgeVerdicts([j.name for j in judges], probs, predicted, target_map, class_names)


def label_counts(labels: Sequence[Optional[str]]) -> Dict[str, int]:
    """How many paths got each label (``not-crossed`` for the unlabelled)."""
    counts = {label: 0 for label in LABELS}
    counts["not-crossed"] = 0
    for label in labels:
        counts[label if label is not None else "not-crossed"] += 1
    return counts
