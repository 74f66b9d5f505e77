"""Faithfulness of a saliency map, measured on the classifier it explains.

Two families of tests, both driven by the ranking of pixels a map induces (higher score = more important):

- **Pixel flipping** (Ikeno & Hara): replace the pixels whose scores fall below the tau-quantile (the
  *least* important tau of them) by a fill (gray, black, white or a generative in-fill) and count the
  images whose decision changes. A faithful map keeps this curve low: what it calls unimportant is not what
  the decision rests on.
- **Deletion / insertion** (Petsiuk et al.): remove the *most* important pixels first (deletion) or reveal
  them first on a filled canvas (insertion), tracking the probability of the original class; the area under
  that curve over the fraction of pixels changed (x normalised to [0, 1], trapezoid rule). Lower deletion AUC
  and higher insertion AUC are better.

Ties. A map may give many pixels one score (a constant map, a clipped mask, exact zeros of a ReLU network).
Pixels are ranked by score with ties broken by a seeded random permutation per image (``seeds[i]``), so a
tied block is flipped in random order: a constant map ranks pixels uniformly at random and scores exactly
like a random map, never better (a rule that held tied blocks back until the quantile covered them all would
give an empty map a perfect flip curve). At fraction tau, ``k = round(tau * H * W)`` pixels change; a pixel
covers all channels.

Every classifier evaluation runs in chunks of at most ``max_batch`` images.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Union

import numpy as np
import torch

#: fill values in cfgan's image range [-1, 1]
CONSTANT_FILLS = {"gray": 0.0, "black": -1.0, "white": 1.0}
#: ``fill(images [N, C, H, W], keep [N, 1, H, W] in {0, 1}) -> images``: content for the pixels where keep is 0
FillFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Fill = Union[str, float, FillFunction]
DEFAULT_TAUS = tuple(round(t, 4) for t in np.linspace(0.0, 1.0, 21))


def check_maps(images: torch.Tensor, maps) -> torch.Tensor:
    """Score maps as a float tensor [N, H, W] matching ``images`` [N, C, H, W]; ValueError names the mismatch."""
    maps = torch.as_tensor(maps, dtype=torch.float32)
    if images.dim() != 4:
        raise ValueError(f"images must be a batch [N, C, H, W], got shape {list(images.shape)}")
    if maps.dim() == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.dim() != 3 or tuple(maps.shape) != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"score maps must be [N, H, W] = {[images.shape[0], *images.shape[2:]]} for these images, "
                         f"got {list(maps.shape)}")
    if not torch.isfinite(maps).all():
        raise ValueError("score maps contain NaN or infinite values")
    return maps


def item_seeds(n: int, seed: int = 0, seeds: Optional[Sequence[int]] = None) -> list:
    """Per-image seeds: ``seeds`` as given, else ``seed + i`` (an image's result never depends on its batch)."""
    if seeds is None:
        return [seed + i for i in range(n)]
    if len(seeds) != n:
        raise ValueError(f"seeds has {len(seeds)} entries for {n} images")
    return [int(s) for s in seeds]


def pixel_ranks(maps: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
    """[N, H*W] rank of each pixel, 0 = least important; ties broken by a seeded random permutation per image."""
    n, p = maps.shape[0], maps[0].numel()
    flat = maps.reshape(n, p).cpu()
    ranks = torch.empty(n, p, dtype=torch.long)
    for i, s in enumerate(seeds):
        perm = torch.randperm(p, generator=torch.Generator().manual_seed(int(s)))
        order = perm[torch.sort(flat[i, perm], stable=True).indices]  # ascending score, ties in random order
        ranks[i, order] = torch.arange(p)
    return ranks


def count_for(fraction: float, pixels: int) -> int:
    """How many pixels change at ``fraction`` of ``pixels``."""
    if not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"fractions must lie in [0, 1], got {fraction}")
    return int(round(float(fraction) * pixels))


def apply_fill(images: torch.Tensor, keep: torch.Tensor, fill: Fill) -> torch.Tensor:
    """``images`` where ``keep`` is 1, the fill where it is 0."""
    keep = keep.to(images.dtype)
    if callable(fill):
        content = fill(images, keep)
        if content.shape != images.shape:
            raise ValueError(f"the in-filler returned shape {list(content.shape)} for images {list(images.shape)}")
    else:
        value = CONSTANT_FILLS[fill] if isinstance(fill, str) else float(fill)
        content = torch.full_like(images, value)
    return images * keep + content.to(images.dtype) * (1 - keep)


def check_fill(fill: Fill) -> Fill:
    if isinstance(fill, str) and fill not in CONSTANT_FILLS:
        raise ValueError(f"unknown fill {fill!r}: use {', '.join(CONSTANT_FILLS)}, a number in [-1, 1] or an "
                         "in-filler fill(images, keep)")
    return fill


@torch.no_grad()
def _classify(classifier, images: torch.Tensor, max_batch: Optional[int]) -> torch.Tensor:
    """Class probabilities [N, K], in chunks of at most ``max_batch`` images."""
    step = images.shape[0] if not max_batch else int(max_batch)
    return torch.cat([torch.softmax(classifier(images[s:s + step]).float(), 1)
                      for s in range(0, images.shape[0], max(step, 1))])


def _sweep(classifier, images, ranks, fractions, fill, keep_rule, max_batch, device):
    """Probabilities [len(fractions), N, K] of the images with pixels kept by ``keep_rule(ranks, k)``.

    The masked images of all fractions are built lazily and classified in chunks of ``max_batch``."""
    n, c, h, w = images.shape
    p = h * w
    out = []
    for fraction in fractions:
        keep = keep_rule(ranks, count_for(fraction, p)).reshape(n, 1, h, w).to(device)
        out.append(_classify(classifier, apply_fill(images, keep, fill), max_batch))
    return torch.stack(out)


def flip_curve(classifier, images: torch.Tensor, maps, taus: Sequence[float] = DEFAULT_TAUS,
               fill: Fill = "gray", seed: int = 0, seeds: Optional[Sequence[int]] = None,
               max_batch: Optional[int] = 64) -> Dict[str, object]:
    """Ikeno & Hara's pixel-flipping test.

    At each tau the ``round(tau * H * W)`` least important pixels of each image are replaced by ``fill``;
    returns ``{"taus": [...], "flip_rate": [...], "changed": bool [T, N]}``: per tau the fraction of images whose
    predicted class differs from the prediction on the untouched image (lower is better).
    """
    images = images.detach()
    maps = check_maps(images, maps)
    fill = check_fill(fill)
    ranks = pixel_ranks(maps, item_seeds(images.shape[0], seed, seeds))
    original = _classify(classifier, images, max_batch).argmax(1)
    probs = _sweep(classifier, images, ranks, taus, fill, lambda r, k: r >= k, max_batch, images.device)
    changed = probs.argmax(2) != original.unsqueeze(0)
    return {"taus": [float(t) for t in taus], "flip_rate": changed.float().mean(1).tolist(),
            "changed": changed.cpu()}


def auc(xs: Sequence[float], ys) -> np.ndarray:
    """Trapezoid area under ``ys`` (last axis) over ``xs`` normalised to [0, 1]."""
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    span = xs[-1] - xs[0]
    if span <= 0:
        raise ValueError("the x values must rise (at least two distinct fractions)")
    xn = (xs - xs[0]) / span
    return ((ys[..., 1:] + ys[..., :-1]) / 2 * np.diff(xn)).sum(-1)


def deletion_insertion(classifier, images: torch.Tensor, maps, steps: int = 20, fill: Fill = "gray",
                       target: Optional[torch.Tensor] = None, seed: int = 0, seeds: Optional[Sequence[int]] = None,
                       max_batch: Optional[int] = 64, which: Sequence[str] = ("deletion", "insertion")) -> dict:
    """Deletion and insertion curves and their AUCs per image, most important pixels first.

    ``target``: the class whose probability is tracked (default: the predicted class of each image). Returns
    ``{"fractions", "deletion": [N, steps + 1] probabilities, "deletion_auc": [N], "insertion"...}``.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    images = images.detach()
    maps = check_maps(images, maps)
    fill = check_fill(fill)
    n, _, h, w = images.shape
    ranks = pixel_ranks(maps, item_seeds(n, seed, seeds))
    if target is None:
        target = _classify(classifier, images, max_batch).argmax(1)
    target = torch.as_tensor(target, dtype=torch.long, device=images.device).reshape(-1).expand(n)
    fractions = [i / steps for i in range(steps + 1)]
    p = h * w
    rules = {"deletion": lambda r, k: r < p - k,  # the k highest-ranked pixels are removed
             "insertion": lambda r, k: r >= p - k}  # only the k highest-ranked pixels are shown
    out: dict = {"fractions": fractions}
    for name in which:
        if name not in rules:
            raise ValueError(f"unknown curve {name!r}: use deletion or insertion")
        probs = _sweep(classifier, images, ranks, fractions, fill, rules[name], max_batch, images.device)
        curve = probs.gather(2, target.view(1, n, 1).expand(len(fractions), n, 1))[..., 0].T.cpu().numpy()
        out[name] = curve
        out[f"{name}_auc"] = auc(fractions, curve)
    return out
