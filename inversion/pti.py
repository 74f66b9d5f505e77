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
                   progress: Optional[Callable] = None, memory=None) -> Generator:
    """Return a tuned deep copy of ``G``; ``G`` itself is left untouched.

    ``memory`` bounds the pivots rendered per pass (``inversion.MemoryBound`` or an int). The locality term
    is a per-pivot sum (its random codes drawn once per step for all pivots), so chunking leaves the summed
    loss, and so the tuning, unchanged.
    """
    tuned = copy.deepcopy(G).train(False)
    for p in tuned.parameters():
        p.requires_grad_(True)
    frozen = G.eval()
    pivot = code.detach()
    objective = Objective(reconstruction_terms(target, mask, losses, features, lpips_net, lpips_random_backbone))
    gen = torch.Generator().manual_seed(seed)
    use_locality = locality > 0 and "w" in G.spaces

    drawn = {}

    def step_objective(step: int, t: float, items: Optional[torch.Tensor] = None):
        part = pivot if items is None else pivot.select(items)
        loss, terms = objective(Rendered(part.render(tuned), None, part, items, pivot))
        if use_locality and step < steps:
            if drawn.get("step") != step:  # once per step for every pivot, whatever the chunking
                drawn.update(step=step, w=_locality_codes(frozen, pivot, locality_step, gen))
            w_loc = drawn["w"] if items is None else drawn["w"][items.to(drawn["w"].device)]
            reg = _locality(frozen, tuned, w_loc)
            terms["locality"] = reg
            loss = loss + locality * reg
        return loss, terms

    optimize(list(tuned.parameters()), step_objective, steps, LRSchedule(lr, 0.0, 0.0), batched=False,
             progress=progress, memory=memory, num_items=len(pivot))
    tuned.requires_grad_(False)
    return tuned


@torch.no_grad()
def _locality_codes(G: Generator, pivot: LatentCode, fraction: float, gen: torch.Generator) -> torch.Tensor:
    """W+ codes a ``fraction`` of the way from each pivot to a random sample [N, num_ws, w_dim].

    A fraction rather than PTI's absolute radius keeps the term scale-free across generators.
    """
    z = torch.randn(len(pivot), G.z_dim, generator=gen).to(G.device)
    w_rand = G.mapping(z, pivot.c)
    w_piv = pivot.ws(G)
    return w_piv + fraction * (w_rand - w_piv)


def _locality(G: Generator, tuned: Generator, w_loc: torch.Tensor) -> torch.Tensor:
    """Per code, the mean squared output change [n] of the tuned generator against the frozen one."""
    with torch.no_grad():
        ref = G.synthesis(w_loc, noise_mode="const")
    out = tuned.synthesis(w_loc, noise_mode="const")
    return ((out - ref) ** 2).flatten(1).mean(1)
