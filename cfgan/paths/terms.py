"""Loss terms of the path methods (``inversion.LossTerm`` subclasses, one value per batch item).

Path batches hold the frames of many paths at once; each item's owning path is in ``code.meta['owners']``
so classifier queries are charged to the right path.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch

from inversion import LossTerm, Rendered
from inversion.losses import masked_mean

from .probe import Probe, log_odds_of, owners_of


class TargetLogOdds(LossTerm):
    """Minimise ``-log-odds(C)``: the ascent direction of f_C (log-odds rise exactly when p_C does)."""

    name = "class"

    def __init__(self, probe: Probe, weight: float = 1.0):
        super().__init__(weight)
        self.probe = probe
        self.last_logits: Optional[torch.Tensor] = None

    def __call__(self, r: Rendered) -> torch.Tensor:
        owners = owners_of(r.code)
        logits = self.probe.logits(r.images, owners)
        self.last_logits = logits.detach()
        return -self.probe.log_odds(logits, owners)


class ScheduleMatch(LossTerm):
    """|h(f_C(G(z_t))) - h(s_t)| per frame: each frame is pulled to its scheduled probability s_t.

    ``scale='logodds'`` (default) compares log-odds, whose gradient does not vanish far from the
    boundary; ``'prob'`` compares probabilities as written in the issue. A Huber corner of width
    ``delta`` lets frames settle on their target instead of oscillating around it.
    """

    name = "class"

    def __init__(self, probe: Probe, targets: torch.Tensor, scale: str = "logodds", delta: float = 0.05,
                 weight: float = 1.0):
        super().__init__(weight)
        if scale not in ("logodds", "prob"):
            raise ValueError(f"schedule scale must be 'logodds' or 'prob', got {scale!r}")
        self.probe, self.scale, self.delta = probe, scale, float(delta)
        self.targets = targets.detach()
        self.last_logits: Optional[torch.Tensor] = None

    def __call__(self, r: Rendered) -> torch.Tensor:
        owners = owners_of(r.code)
        logits = self.probe.logits(r.images, owners)
        self.last_logits = logits.detach()
        targets = self.targets.to(logits.device)
        if self.scale == "logodds":
            value, goal = self.probe.log_odds(logits, owners), log_odds_of(targets)
        else:
            value, goal = self.probe.target_prob(logits, owners), targets
        return _soft_l1(value - goal, self.delta)


def _soft_l1(diff: torch.Tensor, delta: float) -> torch.Tensor:
    """|diff| with a quadratic corner of width ``delta`` (Huber scaled to slope 1)."""
    a = diff.abs()
    return torch.where(a < delta, 0.5 * a * a / delta, a - 0.5 * delta)


class Smoothness(LossTerm):
    """Squared latent step between consecutive frames (frame 0 is the fixed start code).

    Items are laid out path-major: ``frames`` optimised frames per path, after the fixed start.
    """

    name = "smooth"

    def __init__(self, start_values: torch.Tensor, frames: int, weight: float = 1.0):
        super().__init__(weight)
        self.start = start_values.detach()
        self.frames = int(frames)

    def __call__(self, r: Rendered) -> torch.Tensor:
        v = r.code.values
        n = v.shape[0] // self.frames
        paths = v.reshape(n, self.frames, *v.shape[1:])
        prev = torch.cat([self.start.to(v.device).unsqueeze(1), paths[:, :-1]], 1)
        return ((paths - prev) ** 2).flatten(2).mean(2).reshape(-1)


class Identity(LossTerm):
    """lambda_i * (latent distance to the start code + pixel/LPIPS distance to the reference image).

    ``scale`` holds one identity weight lambda per item (paths search their own lambda in one batch),
    so this term's reported value is already scaled; its ``weight`` stays 1.
    """

    name = "identity"

    def __init__(self, latent_ref: torch.Tensor, image_ref: Optional[torch.Tensor], weights: Dict[str, float],
                 scale: torch.Tensor, lpips_net: str = "vgg"):
        super().__init__(1.0)
        unknown = set(weights) - {"latent", "pixel", "lpips"}
        if unknown:
            raise ValueError(f"unknown identity terms {sorted(unknown)}: use latent, pixel, lpips")
        if not any(w > 0 for w in weights.values()):
            raise ValueError("identity needs at least one of latent, pixel, lpips with a positive weight")
        if image_ref is None and (weights.get("pixel", 0) > 0 or weights.get("lpips", 0) > 0):
            raise ValueError("pixel/LPIPS identity terms need a reference image")
        self.latent_ref = latent_ref.detach()
        self.image_ref = None if image_ref is None else image_ref.detach()
        self.weights = {k: float(v) for k, v in weights.items() if v > 0}
        self.scale = scale.detach()
        self.lpips = None
        if "lpips" in self.weights:
            from inversion import LPIPSDistance

            self.lpips = LPIPSDistance(self.image_ref, net=lpips_net)

    def __call__(self, r: Rendered) -> torch.Tensor:
        device = r.images.device
        total = torch.zeros(r.images.shape[0], device=device)
        if "latent" in self.weights:
            diff = r.code.values - self.latent_ref.to(device)
            total = total + self.weights["latent"] * (diff ** 2).flatten(1).mean(1)
        if "pixel" in self.weights:
            err = (r.images - self.image_ref.to(device)) ** 2
            total = total + self.weights["pixel"] * masked_mean(err, None)
        if self.lpips is not None:
            total = total + self.weights["lpips"] * self.lpips(r)
        return self.scale.to(device) * total


class ClassAgreement(LossTerm):
    """KL(f(x) || f(G(z))): an inversion term that keeps the classifier's view of the subject.

    Plain projection often lands a subject in a neighbouring class (a shirt reconstructed as a pullover
    or already a T-shirt); a crossing path must start where the classifier puts the subject itself.
    """

    name = "agreement"

    def __init__(self, classifier, images: torch.Tensor, weight: float = 0.1):
        super().__init__(weight)
        self.classifier = classifier
        with torch.no_grad():
            self.log_p = classifier(images).log_softmax(1).detach()

    def __call__(self, r: Rendered) -> torch.Tensor:
        log_q = self.classifier(r.images).log_softmax(1)
        return (self.log_p.exp() * (self.log_p - log_q)).sum(1)
