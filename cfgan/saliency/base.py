"""What every saliency method shares: the classifier, targets, input checks, seeded randomness, extras.

A method is an object with captum's call, ``attribute(inputs, target=...) -> attributions`` shaped like
``inputs`` ([N, C, H, W], pixels in cfgan's range [-1, 1]), so captum's and cfgan's methods swap in one line.
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, Optional, Sequence, Union

import torch

from cfgan.am.generator_am import frozen
from inversion.images import check_image_range

TargetSpec = Union[None, int, str, Sequence[Union[int, str]], torch.Tensor]


def as_classifier(classifier):
    """A ``cfgan.classifiers.Classifier`` from whatever ``load_classifier`` accepts."""
    from cfgan.classifiers import Classifier, load_classifier

    return classifier if isinstance(classifier, Classifier) else load_classifier(classifier)


def model_device(module: torch.nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return b.device
    return torch.device("cpu")


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block with torch's global RNG seeded, and restore the caller's RNG state afterwards.

    For library code that samples with the global RNG and takes no generator (captum's LIME and
    NoiseTunnel): the caller's random stream is untouched and the block is reproducible."""
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


def stream(seed: int) -> torch.Generator:
    """A CPU random stream for a seed (draws are made on the CPU and moved, so results match across devices)."""
    return torch.Generator(device="cpu").manual_seed(int(seed))


class SaliencyMethod:
    """Base of every method: holds the classifier, seed, memory bound and options; checks inputs and targets.

    Subclasses implement ``_attribute(inputs, target, options) -> Tensor`` (inputs already checked and on the
    classifier's device, ``target`` a LongTensor [N]). After a call, ``extras`` holds per-image facts the
    method measured on the way (a dict of tensors [N] or plain values): e.g. MIP's ``keep_rate``.
    """

    name: str = "?"
    needs_gradients: bool = True

    def __init__(self, classifier, generator=None, seed: int = 0, max_batch: Optional[int] = None,
                 **options: Any):
        from .registry import check_options

        self.classifier = as_classifier(classifier)
        self.generator = generator
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.seed = seed
        if max_batch is not None and (isinstance(max_batch, bool) or not isinstance(max_batch, int)
                                      or max_batch < 1):
            raise ValueError(f"max_batch must be an integer >= 1 or None, got {max_batch!r}")
        self.max_batch = max_batch
        self.options = check_options(self.name, options)
        if self.needs_gradients and not self.classifier.has_gradients:
            raise ValueError(f"method {self.name!r} needs the classifier's gradients, and classifier "
                             f"{self.classifier.name} has none; use occlusion or lime")
        self.extras: Dict[str, Any] = {}

    @property
    def device(self) -> torch.device:
        return model_device(self.classifier)

    def attribute(self, inputs: torch.Tensor, target: TargetSpec = None, **kwargs: Any) -> torch.Tensor:
        """Attributions [N, C, H, W] for ``inputs`` [N, C, H, W] in [-1, 1] and class ``target`` (an index, a
        class name, one per image, or None for the predicted class). ``kwargs`` override options for this call."""
        from .registry import check_options

        options = check_options(self.name, {**self.options, **kwargs})
        x = self.check_inputs(inputs)
        self.extras = {}
        with frozen(self.classifier):
            target_t = self.resolve_target(x, target)
            out = self._attribute(x, target_t, options)
        return out.to(inputs.device)

    # -- checks ------------------------------------------------------------------------------------------
    def check_inputs(self, inputs) -> torch.Tensor:
        if not torch.is_tensor(inputs) or inputs.dim() != 4 or not inputs.is_floating_point():
            got = (f"{inputs.dtype} tensor of shape {list(inputs.shape)}" if torch.is_tensor(inputs)
                   else type(inputs).__name__)
            raise ValueError(f"inputs must be a float tensor [N, C, H, W] with pixels in [-1, 1], got {got}")
        check_image_range(inputs.detach(), "inputs")
        return inputs.detach().to(self.device, torch.float32)

    def resolve_target(self, x: torch.Tensor, target: TargetSpec) -> torch.Tensor:
        """LongTensor [N] of class indices; None means each image's predicted class."""
        n = x.shape[0]
        with torch.no_grad():
            if target is None:
                return torch.cat([self.classifier(x[s]).argmax(1) for s in self.chunks(n)])
            k = self.classifier(x[:1]).shape[1]
        if torch.is_tensor(target):
            if target.is_floating_point() or target.dim() > 1:
                raise ValueError(f"target must be an int, a class name or one per image, got a "
                                 f"{target.dtype} tensor of shape {list(target.shape)}")
            values = target.reshape(-1).tolist()
        elif isinstance(target, (list, tuple)):
            values = list(target)
        else:
            values = [target]
        if len(values) == 1:
            values = values * n
        if len(values) != n:
            raise ValueError(f"target has {len(values)} classes for {n} images; give one, or one per image")
        out = []
        for v in values:
            if isinstance(v, str) or self.classifier.class_names is not None:
                v = self.classifier.class_index(v)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < k:
                raise ValueError(f"target {v!r} is not a class of classifier {self.classifier.name} "
                                 f"(valid indices: 0..{k - 1})")
            out.append(v)
        return torch.tensor(out, dtype=torch.long, device=x.device)

    def chunks(self, n: int, copies: int = 1) -> Iterator[slice]:
        """Slices of images whose passes, each image evaluated as ``copies`` rows, hold at most ``max_batch``
        rows (one slice without a bound)."""
        size = n if self.max_batch is None else max(1, self.max_batch // copies)
        for start in range(0, n, size):
            yield slice(start, min(n, start + size))

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, options: Dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({self.name!r}, seed={self.seed}, max_batch={self.max_batch}, {opts})"
