"""Projection: find the latent code (and optionally noise, and a tuned generator) that reproduces images.

A composition of the shared pieces: a ``LatentCode`` in the chosen space, an ``Objective`` of
reconstruction terms (all mask-aware), and the one optimisation loop. The whole batch is optimised
at once and every image keeps its own loss and result.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch

from generators.base import Generator

from . import perceptual
from .images import check_images
from .latents import LatentCode, check_space, latent_stats
from .losses import (
    LatentPrior,
    LossTerm,
    NoiseRegularizer,
    Objective,
    PixelMSE,
    Rendered,
    check_loss_weights,
    normalize_noise_,
    reconstruction_terms,
)
from .metrics import reconstruction_metrics, summarize
from .optimize import LRSchedule, MemoryBound, optimize


@dataclass
class Projection:
    """Result of ``project``: codes, reconstructions, per-image metrics, the settings used."""

    code: LatentCode
    images: torch.Tensor
    metrics: Dict[str, List]
    settings: dict
    generator: Optional[Generator] = None  # the pivotally tuned copy, when PTI ran
    interrupted: bool = False
    history: List[dict] = field(default_factory=list)

    @property
    def summary(self) -> Dict[str, Optional[float]]:
        return summarize(self.metrics)


def initial_code(G: Generator, target: torch.Tensor, space: str, init: Union[str, LatentCode],
                 mask: Optional[torch.Tensor], k: int, seed: int, c=None) -> LatentCode:
    """``'mean'`` (w_avg; zeros in Z), ``'best-of-k'`` random starts, or a given ``LatentCode``."""
    n = target.shape[0]
    if isinstance(init, LatentCode):
        if len(init) != n:
            raise ValueError(f"initial code has {len(init)} items for {n} images")
        return init.to_space(G, space)
    if init == "mean":
        code = LatentCode.mean(G, n, space)
        code.c = c
        return code
    if init != "best-of-k":
        raise ValueError(f"unknown init {init!r}: use 'mean', 'best-of-k' or a LatentCode")
    candidates = LatentCode.from_seeds(G, range(seed, seed + k), space, c=None if c is None else c[:1].repeat(k, 1))
    with torch.no_grad():
        imgs = candidates.render(G)
        errs = torch.stack([PixelMSE(target, mask)(Rendered(img.expand_as(target), None, candidates))
                            for img in imgs.unsqueeze(1)], 1)  # [N, k]
    best = errs.argmin(1).tolist()
    code = candidates.select(best)
    code.c = c
    return code


@dataclass
class ProjectionSettings:
    """Everything that shapes a projection, recorded with its results.

    ``losses`` maps loss names (lpips, mse, msmse, features) to weights (None: lpips=1, mse=1); LPIPS
    falls back to multi-scale MSE when its ImageNet weights are missing. ``init`` is 'mean' (w_avg) or
    'best-of-k' (the closest of ``k`` random samples). ``latent_noise`` jitters codes early on (a fraction
    of the codes' spread); ``noise_reg`` weighs the noise-map regulariser when ``noise`` is on.
    """

    space: str = "w+"
    steps: int = 500
    noise: bool = False
    losses: Optional[Dict[str, float]] = None
    init: str = "mean"
    k: int = 16
    lr: float = 0.1
    latent_noise: float = 0.05
    noise_reg: float = 1e5
    prior: float = 0.0
    seed: int = 0
    pti: bool = False
    pti_steps: int = 350
    pti_lr: float = 3e-4
    pti_locality: float = 0.0
    lpips_net: str = "vgg"
    lpips_random_backbone: bool = False

    def check(self) -> "ProjectionSettings":
        """Reject settings that would run but silently do nothing useful (steps=0, lr=nan, ...)."""
        for name in ("steps", "k", "pti_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("lr", "pti_lr"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("latent_noise", "noise_reg", "prior", "pti_locality"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.init not in ("mean", "best-of-k"):
            raise ValueError(f"init must be 'mean' or 'best-of-k', got {self.init!r}")
        self.losses = check_loss_weights(self.losses)
        return self


def project(
    G: Generator,
    images: torch.Tensor,
    settings: Optional[ProjectionSettings] = None,
    *,
    mask: Optional[torch.Tensor] = None,
    features: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    start: Optional[LatentCode] = None,
    item_seeds: Optional[Sequence[int]] = None,
    c: Optional[torch.Tensor] = None,
    progress: Optional[Callable[[int, int, dict], None]] = None,
    extra_terms: Sequence[LossTerm] = (),
    memory: Union[None, int, MemoryBound] = None,
    **overrides,
) -> Projection:
    """Project a batch of images [N, C, H, W] in [-1, 1] into a latent space of ``G``.

    ``settings`` (a ``ProjectionSettings``) or keyword ``overrides`` of its fields choose the space,
    steps, losses, PTI and so on. ``mask`` [N or 1, 1, H, W] restricts every term to the kept pixels;
    ``start`` replaces ``init`` with given codes; ``extra_terms`` join the objective. Each image's random
    jitter comes from its own stream, ``item_seeds[i]`` (default ``seed + i``), so an image's result does not
    depend on the batch it is in. With PTI a copy of
    ``G`` is then tuned around the found codes and returned in ``Projection.generator``. ``memory`` bounds
    the images rendered per pass (``inversion.MemoryBound``, or an int); results equal the unbounded run's
    to float rounding.
    """
    if isinstance(overrides.get("init"), LatentCode):  # earlier API: init=<LatentCode>
        start = overrides.pop("init")
    settings = dataclasses.replace(settings or ProjectionSettings(), **overrides).check()
    space, steps, noise, losses = settings.space, settings.steps, settings.noise, settings.losses
    lpips_net, lpips_random_backbone = settings.lpips_net, settings.lpips_random_backbone
    seed, lr = settings.seed, settings.lr
    space = check_space(G, space)
    target = check_images(G, images)
    if mask is not None:
        mask = mask.to(G.device, torch.float32)
    if noise and not G.noise_shapes():
        raise ValueError(f"{type(G).__name__} has no noise inputs: run without noise=True")
    terms = reconstruction_terms(target, mask, losses, features, lpips_net, lpips_random_backbone)
    code = initial_code(G, target, space, start if start is not None else settings.init, mask, settings.k, seed, c)
    if noise:
        code = code.with_noise(G)
        terms.append(NoiseRegularizer(settings.noise_reg))
    if settings.prior:
        terms.append(LatentPrior(None if space == "z" else G.w_avg, settings.prior))
    terms += list(extra_terms)
    objective = Objective(terms)
    params = code.parameters(noise=noise)
    jitter_scale = settings.latent_noise * (1.0 if space == "z" else latent_stats(G, space).total_std)
    seeds = [seed + i for i in range(len(code))] if item_seeds is None else [int(s) for s in item_seeds]
    if len(seeds) != len(code):
        raise ValueError(f"item_seeds has {len(seeds)} seeds for {len(code)} images")
    streams = [torch.Generator(device="cpu").manual_seed(s) for s in seeds]

    def step_objective(step: int, t: float, items: Optional[torch.Tensor] = None):
        scale = jitter_scale * max(0.0, 1.0 - t / 0.75) ** 2 if step < steps else 0.0
        part = code if items is None else code.select(items)
        view = part
        if scale > 0:
            chosen = streams if items is None else [streams[i] for i in items.tolist()]
            jitter = torch.stack([torch.randn(code.values.shape[1:], generator=g) for g in chosen])
            jitter = jitter.to(code.values.device)
            view = LatentCode(part.space, part.values + scale * jitter, part.noise, part.c, part.truncation_psi)
        return objective(Rendered(view.render(G), None, part, items, code))

    result = optimize(params, step_objective, steps, LRSchedule(lr, 0.05, 0.25), batched=True,
                      project=(lambda: normalize_noise_(code.noise)) if noise else None,
                      log_every=max(1, steps // 20), progress=progress, memory=memory)
    code = code.detach()
    tuned = None
    if settings.pti and not result.interrupted:
        from .pti import pivotal_tuning

        tuned = pivotal_tuning(G, code, target, mask=mask, steps=settings.pti_steps, lr=settings.pti_lr,
                               locality=settings.pti_locality, losses=losses, features=features,
                               lpips_net=lpips_net, lpips_random_backbone=lpips_random_backbone, seed=seed,
                               progress=progress, memory=memory)
    with torch.no_grad():
        recon = code.render(tuned if tuned is not None else G)
    metrics = reconstruction_metrics(recon, target, mask, lpips_net, lpips_random_backbone)
    record = dict(dataclasses.asdict(settings), space=space, masked=mask is not None,
                  lpips=("random-backbone" if lpips_random_backbone
                         else "imagenet" if perceptual.lpips_available(lpips_net) else "unavailable"),
                  init="given" if start is not None else settings.init, pti=settings.pti and tuned is not None,
                  pti_steps=settings.pti_steps if settings.pti else 0)
    for name in ("lpips_net", "lpips_random_backbone"):
        record.pop(name)
    return Projection(code, recon.detach(), metrics, record, tuned, result.interrupted, result.history)
