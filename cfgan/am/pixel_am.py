"""Classic pixel-space activation maximisation: x* = argmax_x f(x) - R(x), the baseline generator AM beats.

Gradient ascent on raw pixels reaches any score but drifts into high-frequency patterns no real image
has; the usual regularisers (L2/L1 decay, total variation, random jitter, periodic blur) tame that only
partly. Shown next to generator AM, it makes clear why the generator constraint matters. The optimised
tensor is the image itself; it is wrapped in a minimal code so the shared loop and loss terms apply.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from inversion import LRSchedule, Objective, Rendered, Score, optimize

from .generator_am import check_classifier_for_am, check_stop_at, frozen, stopper
from .objectives import TargetScore, assignment_for, resolve_targets
from .result import AMResult
from .terms import Diversity, PixelL1, PixelL2, TotalVariation


@dataclass
class PixelCode:
    """Stand-in for ``LatentCode`` when the optimised tensor is the image: what ``Rendered.code`` holds."""

    values: torch.Tensor
    space: str = "pixels"

    def __len__(self) -> int:
        return self.values.shape[0]


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding (shape preserved)."""
    radius = max(1, int(math.ceil(2 * sigma)))
    k = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (k / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    pad = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    if pad < radius:  # image smaller than the kernel: truncate the kernel
        k = k[radius - pad:radius + pad + 1]
        k = k / k.sum()
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    x = F.conv2d(x, k.reshape(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.reshape(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def _image_shape(classifier, image_shape) -> Tuple[int, int, int]:
    if image_shape is None:
        if classifier.size is None or classifier.channels is None:
            raise ValueError("image_shape=(C, H, W) is needed: the classifier declares no input "
                             "size/channels")
        image_shape = (classifier.channels, *classifier.size)
    shape = tuple(int(v) for v in image_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (C, H, W) with positive sizes, got {image_shape!r}")
    return shape


def maximize_pixels(
    classifier,
    targets: Sequence,
    image_shape: Optional[Sequence[int]] = None,
    restarts: int = 16,
    steps: int = 200,
    lr: float = 0.05,
    class_score: str = "logprob",
    l2: float = 0.05,
    l1: float = 0.0,
    tv: float = 0.3,
    center: float = 0.0,
    jitter: int = 1,
    blur_every: int = 10,
    blur_sigma: float = 0.5,
    diversity: float = 0.0,
    diversity_features: bool = False,
    init_std: float = 0.1,
    stop_at: Optional[float] = None,
    seed: int = 0,
    device=None,
    progress: Optional[Callable[[int, int, dict], None]] = None,
) -> AMResult:
    """Maximise each target's score over the pixels of images [C, H, W] in [-1, 1].

    Regularisers: ``l2``/``l1`` decay about ``center`` (0 = mid-gray), ``tv`` total variation, ``jitter``
    (score the image shifted by up to this many pixels, a fresh shift each step, same for the batch) and a
    Gaussian blur of ``blur_sigma`` every ``blur_every`` steps (0 = never) except in the last fifth of the
    run. Pixels stay in [-1, 1]. ``stop_at`` freezes an item once its class probability reaches it.
    """
    check_classifier_for_am(classifier)
    check_stop_at(stop_at)
    if restarts < 1 or steps < 0:
        raise ValueError(f"need restarts >= 1 and steps >= 0, got restarts={restarts}, steps={steps}")
    if jitter < 0 or blur_every < 0 or (blur_every and blur_sigma <= 0):
        raise ValueError("jitter and blur_every must be >= 0, and blur_sigma > 0 when blurring")
    shape = _image_shape(classifier, image_shape)
    targets = resolve_targets(classifier, targets)
    assignment = assignment_for(len(targets), restarts)
    if device is None:
        param = next(classifier.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    start = time.perf_counter()

    gen = torch.Generator().manual_seed(int(seed))
    x0 = center + init_std * torch.randn(restarts, *shape, generator=gen)
    code = PixelCode(x0.clamp(-1, 1).repeat(len(targets), 1, 1, 1).to(device))
    score_fn = TargetScore(classifier, targets, assignment, class_score)
    terms = [Score(score_fn, name="score")]
    if l2:
        terms.append(PixelL2(l2, center))
    if l1:
        terms.append(PixelL1(l1, center))
    if tv:
        terms.append(TotalVariation(tv))
    if diversity:
        terms.append(Diversity(assignment, classifier.features if diversity_features else None, diversity))
    objective = Objective(terms)
    shift_gen = torch.Generator().manual_seed(int(seed) + 1)
    initial = {}

    def step_objective(step: int, t: float):
        images = code.values
        if jitter and step < steps:
            dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=shift_gen))
            images = torch.roll(images, shifts=(dy, dx), dims=(2, 3))
        total, values = objective(Rendered(images, None, code))
        if "score" not in initial:
            initial["score"] = -values["score"].detach()
        return total, values

    calls = [0]
    stop = stopper(score_fn, stop_at)

    def regularize():
        calls[0] += 1
        x = code.values.data
        # no blur in the last fifth: the final steps recover the score the last blur cost
        if blur_every and calls[0] % blur_every == 0 and calls[0] <= 0.8 * steps:
            if stop is None:
                x.copy_(gaussian_blur(x, blur_sigma))
            else:  # finished items stay frozen
                active = (~stop.done).nonzero().flatten().to(x.device)
                if len(active):
                    x[active] = gaussian_blur(x[active], blur_sigma)
        x.clamp_(-1, 1)

    code.values.requires_grad_(True)
    with frozen(classifier):
        result = optimize([code.values], step_objective, steps, LRSchedule(lr, 0.0, 0.25), batched=True,
                          project=regularize, stop=stop, log_every=max(1, steps // 20),
                          progress=progress)
    images = code.values.detach().clamp(-1, 1)
    with torch.no_grad():
        probs = classifier.probs(images)
    settings = dict(method="pixels", image_shape=list(shape), restarts=restarts, steps=steps, lr=lr,
                    class_score=class_score, l2=l2, l1=l1, tv=tv, center=center, jitter=jitter,
                    blur_every=blur_every, blur_sigma=blur_sigma, diversity=diversity,
                    diversity_space="features" if diversity_features else "image", init_std=init_std,
                    stop_at=stop_at, seed=seed, targets=[t.label for t in targets],
                    num_images=len(assignment))
    return AMResult("pixels", targets, assignment, images.cpu(), -result.terms["score"].cpu(),
                    initial.get("score", -result.terms["score"]).cpu(), probs.detach().float().cpu(), None,
                    settings, result.history, result.interrupted, time.perf_counter() - start)
