"""Loss terms: small modules that each score a rendered batch, one value per image.

Every method is a weighted sum of these (``Objective``). A term sees a ``Rendered`` batch (the
images, the W+ codes and the ``LatentCode`` that produced them) and returns a tensor [N]. Masks are
[N or 1, 1, H, W] with 1 where a pixel counts: masked projection and in-filling reuse every term.

Under a memory bound (``inversion.optimize``) a term may see a chunk of the batch: ``Rendered.items`` then
holds the chunk's batch indices, and a term reads its per-item data (targets, masks, references) with
``r.rows(x)``. ``Rendered.batch`` is the whole code being optimised, for terms that couple items through
their parameters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from . import perceptual
from .latents import LatentCode


@dataclass
class Rendered:
    """A rendered batch: ``images`` of ``code``; under a memory bound, items ``items`` of ``batch``."""

    images: torch.Tensor
    ws: Optional[torch.Tensor]
    code: LatentCode
    items: Optional[torch.Tensor] = None  # batch indices of these rows (None: the whole batch)
    batch: Optional[LatentCode] = None  # the whole code being optimised (None: ``code``)

    def rows(self, x: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """The rows of a per-item tensor ``x`` [N, ...] for the items rendered here (``x`` itself for the
        whole batch, or when ``x`` has a single row shared by every item)."""
        if x is None or self.items is None or x.shape[0] == 1:
            return x
        return x[self.items.to(x.device)]


class LossTerm:
    """Base class: ``name``, ``weight`` and ``__call__(rendered) -> [N]`` (unweighted)."""

    name = "term"

    def __init__(self, weight: float = 1.0):
        self.weight = float(weight)

    def __call__(self, r: Rendered) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


class Objective:
    """A weighted sum of loss terms; returns the per-image total and each term's unweighted value."""

    def __init__(self, terms: Sequence[LossTerm]):
        names = [t.name for t in terms]
        if len(set(names)) != len(names):
            raise ValueError(f"loss term names must be unique, got {names}")
        self.terms = list(terms)

    def __call__(self, r: Rendered) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        values = {t.name: t(r) for t in self.terms}
        total = sum(t.weight * values[t.name] for t in self.terms if t.weight != 0)
        if not torch.is_tensor(total):
            total = torch.zeros(r.images.shape[0], device=r.images.device)
        return total, values


# --------------------------------------------------------------------------------------------------
# image reconstruction terms


def _check_target(target: torch.Tensor, mask: Optional[torch.Tensor]):
    if target.ndim != 4:
        raise ValueError(f"target images must be [N, C, H, W], got shape {tuple(target.shape)}")
    if mask is not None:
        if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[-2:] != target.shape[-2:]:
            raise ValueError(f"mask must be [N or 1, 1, {target.shape[-2]}, {target.shape[-1]}], "
                             f"got {tuple(mask.shape)}")
        if float(mask.sum()) == 0:
            raise ValueError("mask keeps no pixel: nothing to fit")
    return target.detach(), None if mask is None else mask.detach().float()


def total_variation(x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Per-item mean of |neighbour differences|^beta over both axes of [N, C, H, W] -> [N]: the smoothness
    prior of AM images (beta = 2) and of saliency masks (beta = 1: FIDO; 3: Fong & Vedaldi)."""
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().pow(beta).flatten(1).mean(1)
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().pow(beta).flatten(1).mean(1)
    return dx + dy


def masked_mean(err: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """Mean of an error map [N, C, H, W] per image over the pixels the mask keeps."""
    if mask is None:
        return err.flatten(1).mean(1)
    m = mask.expand(err.shape[0], 1, *err.shape[2:])
    return (err * m).flatten(1).sum(1) / (m.flatten(1).sum(1) * err.shape[1]).clamp_min(1e-8)


class PixelMSE(LossTerm):
    name = "mse"

    def __init__(self, target: torch.Tensor, mask: Optional[torch.Tensor] = None, weight: float = 1.0):
        super().__init__(weight)
        self.target, self.mask = _check_target(target, mask)

    def __call__(self, r: Rendered) -> torch.Tensor:
        return masked_mean((r.images - r.rows(self.target)) ** 2, r.rows(self.mask))


class MultiScaleMSE(LossTerm):
    """MSE at several resolutions: coarse scales pull shapes into place before fine detail matters.

    With a mask, each scale compares mask-weighted averages and weighs pixels by the kept
    fraction under them, so ignored pixels never leak into a coarse scale.
    """

    name = "msmse"

    def __init__(self, target: torch.Tensor, mask: Optional[torch.Tensor] = None, scales=(1, 2, 4),
                 weight: float = 1.0):
        super().__init__(weight)
        self.target, self.mask = _check_target(target, mask)
        self.scales = [int(s) for s in scales]
        self._levels = [self._level(self.target, s) for s in self.scales]

    def _level(self, x: torch.Tensor, s: int, mask: Optional[torch.Tensor] = None):
        """(downsampled masked average, weight map) of ``x`` at scale ``s`` (``mask``: default the term's)."""
        mask = self.mask if mask is None else mask
        if mask is None:
            return (x if s == 1 else F.avg_pool2d(x, s)), None
        cover = mask if s == 1 else F.avg_pool2d(mask, s)
        x = x * mask
        x = x if s == 1 else F.avg_pool2d(x, s)
        return x / cover.clamp_min(1e-8), cover

    def __call__(self, r: Rendered) -> torch.Tensor:
        total = 0
        mask = r.rows(self.mask)
        for s, (target, cover) in zip(self.scales, self._levels):
            img, _ = self._level(r.images, s, mask)
            total = total + masked_mean((img - r.rows(target)) ** 2, r.rows(cover))
        return total / len(self.scales)


class LPIPSDistance(LossTerm):
    """LPIPS to the target; without ImageNet weights it warns once and uses multi-scale MSE instead."""

    name = "lpips"

    def __init__(self, target: torch.Tensor, mask: Optional[torch.Tensor] = None, net: str = "vgg",
                 random_backbone: bool = False, weight: float = 1.0):
        super().__init__(weight)
        self.target, self.mask = _check_target(target, mask)
        self.net, self.random_backbone = net, random_backbone
        self.fallback = None
        if not random_backbone and not perceptual.lpips_available(net):
            perceptual.warn_unavailable(net)
            self.fallback = MultiScaleMSE(target, mask)

    def __call__(self, r: Rendered) -> torch.Tensor:
        if self.fallback is not None:
            return self.fallback(r)
        return perceptual.lpips_distance(r.images, r.rows(self.target), r.rows(self.mask), self.net,
                                         self.random_backbone)


class FeatureDistance(LossTerm):
    """Squared distance between features of a user's network (e.g. a classifier's penultimate layer).

    For domains such as Fashion-MNIST, ImageNet features are a poor fit; the classifier being
    explained knows what matters. Masks blank the ignored pixels of both images (to the target's
    values) before extracting features, so ignored pixels cannot influence the term.
    """

    name = "features"

    def __init__(self, features: Callable[[torch.Tensor], torch.Tensor], target: torch.Tensor,
                 mask: Optional[torch.Tensor] = None, weight: float = 1.0):
        super().__init__(weight)
        self.features = features
        self.target, self.mask = _check_target(target, mask)
        with torch.no_grad():
            self.target_features = features(self.target).flatten(1).detach()

    def __call__(self, r: Rendered) -> torch.Tensor:
        mask, target = r.rows(self.mask), r.rows(self.target)
        img = r.images if mask is None else r.images * mask + target * (1 - mask)
        f = self.features(img).flatten(1)
        return ((f - r.rows(self.target_features)) ** 2).mean(1)


DEFAULT_LOSSES = {"lpips": 1.0, "mse": 1.0}
LOSS_NAMES = ("lpips", "mse", "msmse", "features")


def check_loss_weights(losses: Optional[Dict[str, float]]) -> Dict[str, float]:
    """``losses`` ({name: weight}, None = defaults) with every name known and every weight finite and >= 0.

    A negative weight would maximise a distance: never what a user meant.
    """
    losses = dict(DEFAULT_LOSSES if losses is None else losses)
    unknown = set(losses) - set(LOSS_NAMES)
    if unknown:
        raise ValueError(f"unknown loss {sorted(unknown)}: choose from {', '.join(LOSS_NAMES)}")
    for name, weight in losses.items():
        if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"loss weight {name}={weight!r} must be a finite number >= 0")
    if not any(w > 0 for w in losses.values()):
        raise ValueError(f"every loss weight is 0 ({losses}): nothing to fit")
    return {k: float(v) for k, v in losses.items()}


def reconstruction_terms(target: torch.Tensor, mask: Optional[torch.Tensor] = None,
                         losses: Optional[Dict[str, float]] = None,
                         features: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                         lpips_net: str = "vgg", lpips_random_backbone: bool = False) -> List[LossTerm]:
    """Build the image terms named in ``losses`` ({name: weight}); see ``LOSS_NAMES``."""
    losses = check_loss_weights(losses)
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


# --------------------------------------------------------------------------------------------------
# latent terms


class NoiseRegularizer(LossTerm):
    """Penalise spatial autocorrelation of optimised noise maps at every scale.

    Without it the noise maps learn the image themselves (they can encode anything), and the
    latent code stops meaning anything.
    """

    name = "noise_reg"

    def __call__(self, r: Rendered) -> torch.Tensor:
        noise = r.code.noise
        if not noise:
            return torch.zeros(r.images.shape[0], device=r.images.device)
        total = 0
        for m in noise:
            while True:
                total = total + (m * torch.roll(m, 1, dims=3)).mean((1, 2, 3)) ** 2
                total = total + (m * torch.roll(m, 1, dims=2)).mean((1, 2, 3)) ** 2
                if m.shape[-1] <= 8:
                    break
                m = F.avg_pool2d(m, 2)
        return total


def normalize_noise_(noise: Optional[List[torch.Tensor]]) -> None:
    """Keep each noise map at zero mean and unit variance (applied after every step)."""
    if not noise:
        return
    with torch.no_grad():
        for m in noise:
            mean = m.mean((1, 2, 3), keepdim=True)
            std = m.std((1, 2, 3), keepdim=True).clamp_min(1e-8)
            m.sub_(mean).div_(std)


class LatentDistance(LossTerm):
    """Mean squared distance of the code to reference values (an identity term: stay near x's code)."""

    name = "latent"

    def __init__(self, reference: torch.Tensor, weight: float = 1.0):
        super().__init__(weight)
        self.reference = reference.detach()

    def __call__(self, r: Rendered) -> torch.Tensor:
        diff = r.code.values - r.rows(self.reference).to(r.code.values.device)
        return (diff ** 2).flatten(1).mean(1)


class LatentPrior(LossTerm):
    """Keep codes in the generator's typical region: |z|^2/dim in Z, distance to w_avg in W/W+."""

    name = "prior"

    def __init__(self, w_avg: Optional[torch.Tensor] = None, weight: float = 1.0):
        super().__init__(weight)
        self.w_avg = None if w_avg is None else w_avg.detach().reshape(-1)

    def __call__(self, r: Rendered) -> torch.Tensor:
        v = r.code.values
        if r.code.space == "z":
            return (v ** 2).mean(1)
        if self.w_avg is None:
            raise ValueError("LatentPrior in W/W+ needs the generator's w_avg")
        return ((v - self.w_avg.to(v.device)) ** 2).flatten(1).mean(1)


class Score(LossTerm):
    """Minimise ``-fn(images)``: any differentiable per-image score, e.g. a class's log-probability.

    Under a memory bound a score whose items differ (one target per item) must accept ``items=`` (the
    chunk's batch indices); it is passed only when the term sees a chunk.
    """

    name = "score"

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], weight: float = 1.0, name: str = "score"):
        super().__init__(weight)
        self.fn = fn
        self.name = name

    def __call__(self, r: Rendered) -> torch.Tensor:
        if r.items is None:
            return -self.fn(r.images)
        return -self.fn(r.images, items=r.items)
