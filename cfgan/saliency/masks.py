"""Mask machinery shared by the mask methods: a coarse grid of logits upsampled to the image, the concrete
(relaxed Bernoulli) sample, and the (image, sample) items the optimisation runs on. Their smoothness term is
``inversion.losses.total_variation``."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F


def grid_size(options: Dict[str, Any], height: int, width: int, fraction: int = 4) -> tuple:
    """Mask grid (h, w): option ``grid`` (an int for both sides) or 1/``fraction`` of the image (at least 2)."""
    grid = options.get("grid")
    if grid is None:
        return max(2, height // fraction), max(2, width // fraction)
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
        raise ValueError(f"option grid must be an integer >= 1 (mask cells per side), got {grid!r}")
    if grid > max(height, width):
        raise ValueError(f"option grid={grid} is finer than the {height}x{width} images")
    return grid, grid


def upsample(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A coarse mask [N, 1, h, w] in [0, 1] at image size (bilinear: smooth edges, values stay in [0, 1])."""
    if tuple(mask.shape[-2:]) == (height, width):
        return mask
    return F.interpolate(mask, size=(height, width), mode="bilinear", align_corners=False)


def concrete(logits: torch.Tensor, uniform: torch.Tensor, temperature: float) -> torch.Tensor:
    """Relaxed Bernoulli sample in (0, 1) with P(1) = sigmoid(logits), differentiable in ``logits``
    (Maddison et al. / Jang et al.); ``uniform`` holds U(0, 1) draws of the same shape."""
    u = uniform.clamp(1e-6, 1 - 1e-6)
    return torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / temperature)


def number(options: Dict[str, Any], key: str, minimum: float = 0.0, strict: bool = False,
           default: Optional[float] = None) -> float:
    """A numeric option >= ``minimum`` (> when ``strict``), ``default`` when it is None."""
    value = options.get(key)
    if value is None and default is not None:
        return float(default)
    ok = (not isinstance(value, bool) and isinstance(value, (int, float))
          and (value > minimum if strict else value >= minimum) and value == value and abs(value) != float("inf"))
    if not ok:
        raise ValueError(f"option {key} must be a finite number {'>' if strict else '>='} {minimum}, got {value!r}")
    return float(value)


def count(options: Dict[str, Any], key: str, minimum: int = 1) -> int:
    value = options.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"option {key} must be an integer >= {minimum}, got {value!r}")
    return value


class SampledItems:
    """The optimisation items of a Monte Carlo objective: every (image, sample) pair is one item.

    The loop's memory bound counts items, so ``max_batch`` bounds the images one pass renders however many
    samples an image takes. Each pair's loss carries 1/S of its image's terms, so the summed loss (whose
    gradient Adam follows) is each image's Monte Carlo mean. Randomness is drawn per image and step from
    the image's own stream (``draw``), so neither chunking nor the other images in a batch change a result.
    """

    def __init__(self, images: int, samples: int, seeds: List[int]):
        self.images, self.samples = images, samples
        self.streams = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        self._step: Optional[int] = None
        self._draws: Dict[str, torch.Tensor] = {}

    @property
    def total(self) -> int:
        return self.images * self.samples

    def split(self, items: Optional[torch.Tensor]):
        """(image index [n], sample index [n]) of items (all items when None)."""
        if items is None:
            items = torch.arange(self.total)
        items = items.cpu()
        return items // self.samples, items % self.samples

    def draw(self, step: int, name: str, shape: tuple, kind: str = "uniform") -> torch.Tensor:
        """Per-step random draws [images, samples, *shape], made once per step and name, image by image."""
        if step != self._step:
            self._step, self._draws = step, {}
        if name not in self._draws:
            fn = torch.rand if kind == "uniform" else torch.randn
            self._draws[name] = torch.stack([fn((self.samples, *shape), generator=g) for g in self.streams])
        return self._draws[name]

    def per_image(self, values: torch.Tensor) -> torch.Tensor:
        """Item values [images * samples] -> per-image sums [images]."""
        return values.reshape(self.images, self.samples).sum(1)
