"""Pivotal tuning (PTI): fine-tune a copy of the generator so the found codes reproduce their images.

The code found by projection is the pivot; the generator's weights move instead of the code, which
reaches near-exact reconstructions while the code keeps its meaning for later edits. One tuned
copy serves the whole batch (multi-image PTI). The optional locality term keeps the tuned
generator's output unchanged for codes a fixed distance away from the pivots, so edits stay sane.
"""
from __future__ import annotations

import copy
from typing import Callable, Dict, Optional

import torch

from generators.base import Generator

from .latents import LatentCode
from .losses import Objective, Rendered, reconstruction_terms
from .optimize import LRSchedule, optimize


def pivotal_tuning(G: Generator, code: LatentCode, target: torch.Tensor, mask: Optional[torch.Tensor] = None,
                   steps: int = 350, lr: float = 3e-4, locality: float = 0.0, locality_step: float = 0.3,
                   losses: Optional[Dict[str, float]] = None, features: Optional[Callable] = None,
                   lpips_net: str = "vgg", lpips_random_backbone: bool = False, seed: int = 0,
                   progress: Optional[Callable] = None) -> Generator:
    """Return a tuned deep copy of ``G``; ``G`` itself is left untouched."""
    tuned = copy.deepcopy(G).train(False)
    for p in tuned.parameters():
        p.requires_grad_(True)
    frozen = G.eval()
    pivot = code.detach()
    objective = Objective(reconstruction_terms(target, mask, losses, features, lpips_net, lpips_random_backbone))
    gen = torch.Generator().manual_seed(seed)
    use_locality = locality > 0 and "w" in G.spaces

    def step_objective(step: int, t: float):
        loss, terms = objective(Rendered(pivot.render(tuned), None, pivot))
        if use_locality and step < steps:
            reg = _locality(frozen, tuned, pivot, locality_step, gen)
            terms["locality"] = reg.expand_as(loss)
            loss = loss + locality * reg
        return loss, terms

    optimize(list(tuned.parameters()), step_objective, steps, LRSchedule(lr, 0.0, 0.0), batched=False,
             progress=progress)
    tuned.requires_grad_(False)
    return tuned


def _locality(G: Generator, tuned: Generator, pivot: LatentCode, fraction: float, gen: torch.Generator):
    """Mean squared output change at codes a ``fraction`` of the way from the pivots to random samples.

    A fraction rather than PTI's absolute radius keeps the term scale-free across generators.
    """
    n = len(pivot)
    with torch.no_grad():
        z = torch.randn(n, G.z_dim, generator=gen).to(G.device)
        w_rand = G.mapping(z, pivot.c)
        w_piv = pivot.ws(G)
        w_loc = w_piv + fraction * (w_rand - w_piv)
        ref = G.synthesis(w_loc, noise_mode="const")
    out = tuned.synthesis(w_loc, noise_mode="const")
    return ((out - ref) ** 2).mean()
