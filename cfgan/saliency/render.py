"""Pictures of saliency maps: the input, the map as a heat map, and the two blended, side by side."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def heat(map_: torch.Tensor, cmap: str = "inferno") -> torch.Tensor:
    """A score map [H, W] as an RGB image [3, H, W] in [-1, 1] (min-max normalised; constant maps are dark)."""
    from matplotlib import colormaps

    m = map_.detach().float().cpu()
    span = float(m.max() - m.min())
    norm = (m - m.min()) / span if span > 0 else torch.zeros_like(m)
    rgb = colormaps[cmap](norm.numpy())[..., :3]
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float() * 2 - 1


def as_rgb(image: torch.Tensor) -> torch.Tensor:
    image = image.detach().float().cpu()
    return image.repeat(3, 1, 1) if image.shape[0] == 1 else image


def enlarge(image: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest-neighbour enlargement of [C, H, W] (small images stay sharp)."""
    return image.repeat_interleave(factor, 1).repeat_interleave(factor, 2) if factor > 1 else image


def overlay_panel(image: torch.Tensor, map_: torch.Tensor, alpha: float = 0.55, scale: int = 4,
                  gap: int = 2) -> torch.Tensor:
    """[3, H', W']: input | heat map | heat map blended over the input, enlarged ``scale`` times."""
    rgb, hot = as_rgb(image), heat(map_)
    blend = (1 - alpha) * rgb + alpha * hot
    return row([rgb, hot, blend], scale, gap)


def row(images: Sequence[torch.Tensor], scale: int = 4, gap: int = 2) -> torch.Tensor:
    """RGB images [3, H, W] of one size in a row on white, enlarged ``scale`` times."""
    big = [enlarge(as_rgb(im), scale) for im in images]
    h, w = big[0].shape[1:]
    out = torch.ones(3, h, len(big) * w + (len(big) - 1) * gap)
    for i, im in enumerate(big):
        out[:, :, i * (w + gap):i * (w + gap) + w] = im
    return out
