"""Loss terms specific to activation maximisation: restart diversity and the classic pixel regularisers.

They plug into ``inversion.Objective`` like every other term (``__call__(rendered) -> [N]``, unweighted).
"""
from __future__ import annotations

from typing import Callable, Optional

import torch

from inversion import LossTerm, Rendered
from inversion.losses import total_variation


class Diversity(LossTerm):
    """Minus the mean distance of each item to the other restarts of the same target.

    Without it, restarts of one target tend to collapse onto the same few "most typical" images; with it
    the optimiser is paid to keep them apart. Distances are root-mean-square differences of the images
    (or of ``features(images)`` when given, e.g. the classifier's penultimate layer), so the weight does
    not depend on the resolution. Items alone in their group get 0.
    """

    name = "diversity"

    def __init__(self, groups: torch.Tensor,
                 features: Optional[Callable[[torch.Tensor], torch.Tensor]] = None, weight: float = 1.0,
                 eps: float = 1e-8):
        super().__init__(weight)
        self.groups = torch.as_tensor(groups, dtype=torch.long).cpu()
        self.features, self.eps = features, eps

    def __call__(self, r: Rendered) -> torch.Tensor:
        # compares rendered images of a group: under a memory bound, optimize must keep groups whole
        return -pairwise_group_distance(self.embed(r.images), r.rows(self.groups), self.eps)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        x = images if self.features is None else self.features(images)
        return x.reshape(x.shape[0], -1)


def pairwise_group_distance(x: torch.Tensor, groups: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per item, the mean RMS distance [N] to the other items of its group (0 for a lone item)."""
    groups = torch.as_tensor(groups).to(x.device)
    diff = x.unsqueeze(1) - x.unsqueeze(0)  # [N, N, D]
    dist = (diff.pow(2).mean(-1) + eps).sqrt()
    same = (groups.unsqueeze(1) == groups.unsqueeze(0)) & ~torch.eye(len(groups), dtype=torch.bool,
                                                                      device=x.device)
    count = same.sum(1).clamp_min(1)
    return (dist * same).sum(1) / count


class PixelL2(LossTerm):
    """Mean squared pixel value about ``center``: the classic L2 decay that keeps pixels moderate."""

    name = "l2"

    def __init__(self, weight: float = 1.0, center: float = 0.0):
        super().__init__(weight)
        self.center = float(center)

    def __call__(self, r: Rendered) -> torch.Tensor:
        return (r.images - self.center).pow(2).flatten(1).mean(1)


class PixelL1(LossTerm):
    """Mean absolute pixel value about ``center``: favours sparse images (most pixels at the centre)."""

    name = "l1"

    def __init__(self, weight: float = 1.0, center: float = 0.0):
        super().__init__(weight)
        self.center = float(center)

    def __call__(self, r: Rendered) -> torch.Tensor:
        return (r.images - self.center).abs().flatten(1).mean(1)


class TotalVariation(LossTerm):
    """Mean squared difference of neighbouring pixels: suppresses the high-frequency patterns that raw
    gradient ascent produces."""

    name = "tv"

    def __call__(self, r: Rendered) -> torch.Tensor:
        return total_variation(r.images, beta=2.0)
