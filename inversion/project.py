"""Projection: find the latent code (and optionally noise, and a tuned generator) that reproduces images.

A composition of the shared pieces: a ``LatentCode`` in the chosen space, an ``Objective`` of
reconstruction terms (all mask-aware), and the one optimisation loop. The whole batch is optimised
at once and every image keeps its own loss and result.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch

from generators.base import Generator

from . import perceptual
from .latents import LatentCode, check_space
from .losses import (
    FeatureDistance,
    LatentPrior,
    LossTerm,
    LPIPSDistance,
    MultiScaleMSE,
    NoiseRegularizer,
    Objective,
    PixelMSE,
    Rendered,
    normalize_noise_,
)
from .metrics import reconstruction_metrics, summarize
from .optimize import LRSchedule, optimize

DEFAULT_LOSSES = {"lpips": 1.0, "mse": 1.0}
LOSS_NAMES = ("lpips", "mse", "msmse", "features")


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


def reconstruction_terms(target: torch.Tensor, mask: Optional[torch.Tensor] = None,
                         losses: Optional[Dict[str, float]] = None,
                         features: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                         lpips_net: str = "vgg", lpips_random_backbone: bool = False) -> List[LossTerm]:
    """Build the image terms named in ``losses`` ({name: weight}); see ``LOSS_NAMES``."""
    losses = dict(DEFAULT_LOSSES if losses is None else losses)
    unknown = set(losses) - set(LOSS_NAMES)
    if unknown:
        raise ValueError(f"unknown loss {sorted(unknown)}: choose from {', '.join(LOSS_NAMES)}")
    terms: List[LossTerm] = []
    for name, weight in losses.items():
        if name == "lpips":
            terms.append(LPIPSDistance(target, mask, lpips_net, lpips_random_backbone, weight))
        elif name == "mse":
            terms.append(PixelMSE(target, mask, weight))
        elif name == "msmse":
            terms.append(MultiScaleMSE(target, mask, weight=weight))
        elif name == "features":
            if features is None:
                raise ValueError("the 'features' loss needs a feature extractor (e.g. a classifier's features)")
            terms.append(FeatureDistance(features, target, mask, weight))
    return terms


def check_images(G: Generator, images: torch.Tensor, what: str = "images") -> torch.Tensor:
    if not torch.is_tensor(images) or images.ndim != 4:
        raise ValueError(f"{what} must be a tensor [N, C, H, W], got "
                         f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}")
    expected = (G.channels, G.resolution, G.resolution)
    if tuple(images.shape[1:]) != expected:
        raise ValueError(f"{what} have shape {tuple(images.shape[1:])} but the generator makes {expected} "
                         f"(C, H, W); resize/convert them first (cfgan.data.load_image does)")
    if not torch.isfinite(images).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return images.to(G.device, torch.float32)


def w_std(G: Generator, n: int = 2000, seed: int = 123) -> float:
    """Typical spread of W codes: scales the latent noise added early in projection."""
    if "w" not in G.spaces:
        return 1.0
    with torch.no_grad():
        ws = G.mapping(G.sample_z(n, seed), _random_c(G, n, seed))[:, 0]
    return float(((ws - ws.mean(0)) ** 2).sum(1).mean().sqrt())


def _random_c(G: Generator, n: int, seed: int):
    if G.c_dim == 0:
        return None
    g = torch.Generator().manual_seed(seed)
    return G.one_hot(torch.randint(0, G.c_dim, (n,), generator=g))


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


def project(
    G: Generator,
    images: torch.Tensor,
    space: str = "w+",
    steps: int = 500,
    noise: bool = False,
    mask: Optional[torch.Tensor] = None,
    losses: Optional[Dict[str, float]] = None,
    features: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    init: Union[str, LatentCode] = "mean",
    k: int = 16,
    lr: float = 0.1,
    latent_noise: float = 0.05,
    noise_reg: float = 1e5,
    prior: float = 0.0,
    c: Optional[torch.Tensor] = None,
    seed: int = 0,
    pti: bool = False,
    pti_steps: int = 350,
    pti_lr: float = 3e-4,
    pti_locality: float = 0.0,
    lpips_net: str = "vgg",
    lpips_random_backbone: bool = False,
    progress: Optional[Callable[[int, int, dict], None]] = None,
    extra_terms: Sequence[LossTerm] = (),
) -> Projection:
    """Project a batch of images [N, C, H, W] in [-1, 1] into ``space`` of ``G``.

    ``losses`` maps loss names (lpips, mse, msmse, features) to weights; LPIPS falls back to
    multi-scale MSE when its ImageNet weights are missing. ``mask`` [N or 1, 1, H, W] restricts
    every term to the kept pixels. With ``pti`` a copy of ``G`` is then tuned around the found
    codes (pivotal tuning) and returned in ``Projection.generator``.
    """
    space = check_space(G, space)
    target = check_images(G, images)
    if mask is not None:
        mask = mask.to(G.device, torch.float32)
    if noise and not G.noise_shapes():
        raise ValueError(f"{type(G).__name__} has no noise inputs: run without noise=True")
    terms = reconstruction_terms(target, mask, losses, features, lpips_net, lpips_random_backbone)
    code = initial_code(G, target, space, init, mask, k, seed, c)
    if noise:
        code = code.with_noise(G)
        terms.append(NoiseRegularizer(noise_reg))
    if prior:
        terms.append(LatentPrior(None if space == "z" else G.w_avg, prior))
    terms += list(extra_terms)
    objective = Objective(terms)
    params = code.parameters(noise=noise)
    spread = w_std(G) if space != "z" else 1.0
    gen = torch.Generator(device="cpu").manual_seed(seed)

    def step_objective(step: int, t: float):
        scale = spread * latent_noise * max(0.0, 1.0 - t / 0.75) ** 2 if step < steps else 0.0
        view = code
        if scale > 0:
            jitter = torch.randn(code.values.shape, generator=gen).to(code.values.device)
            view = LatentCode(code.space, code.values + scale * jitter, code.noise, code.c, code.truncation_psi)
        return objective(Rendered(view.render(G), None, code))

    result = optimize(params, step_objective, steps, LRSchedule(lr, 0.05, 0.25), batched=True,
                      project=(lambda: normalize_noise_(code.noise)) if noise else None,
                      log_every=max(1, steps // 20), progress=progress)
    code = code.detach()
    tuned = None
    if pti and not result.interrupted:
        from .pti import pivotal_tuning

        tuned = pivotal_tuning(G, code, target, mask=mask, steps=pti_steps, lr=pti_lr, locality=pti_locality,
                               losses=losses, features=features, lpips_net=lpips_net,
                               lpips_random_backbone=lpips_random_backbone, seed=seed, progress=progress)
    with torch.no_grad():
        recon = code.render(tuned if tuned is not None else G)
    metrics = reconstruction_metrics(recon, target, mask, lpips_net, lpips_random_backbone)
    settings = dict(space=space, steps=steps, noise=noise, masked=mask is not None,
                    losses=dict(DEFAULT_LOSSES if losses is None else losses),
                    lpips=("random-backbone" if lpips_random_backbone
                           else "imagenet" if perceptual.lpips_available(lpips_net) else "unavailable"),
                    init=init if isinstance(init, str) else "given", k=k, lr=lr, latent_noise=latent_noise,
                    noise_reg=noise_reg, prior=prior, seed=seed, pti=pti and tuned is not None,
                    pti_steps=pti_steps if pti else 0, pti_lr=pti_lr, pti_locality=pti_locality)
    return Projection(code, recon.detach(), metrics, settings, tuned, result.interrupted, result.history)
