"""Black-box paths: the ascent path with a zeroth-order gradient in place of backpropagation.

``EstimatedTargetLogOdds`` is a drop-in for ``terms.TargetLogOdds``: its value is the same negative log-odds,
read from classifier queries, and its gradient with respect to the latent code is an antithetic NES
estimate, ``g = 1/(2 sigma q) * sum_k [f(z + sigma u_k) - f(z - sigma u_k)] u_k`` with Gaussian ``u_k``,
built from generator forwards and classifier queries only. Nothing is backpropagated through the generator
or the classifier; the estimate reaches ``optimize`` through a tiny autograd function that hands it to the
code values. Every classifier query is counted and each path stops before exceeding its budget.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, List, Optional

import torch

from inversion import LatentCode, LossTerm, Rendered, latent_stats

from .ascent import AscentSettings, ascent_paths
from .probe import OWNERS, Probe, owners_of
from .terms import remember


@dataclass
class BlackboxSettings(AscentSettings):
    steps: int = 2000  # an upper bound; the query budget normally ends the climb first
    lr: float = 0.05
    samples: int = 8  # antithetic pairs per estimate (2 * samples + 1 queries per step)
    sigma: float = 0.5  # perturbation size, in units of the per-coordinate code spread
    shared_layers: bool = True  # W+: perturb all layers alike (a w_dim-dimensional search, far less noisy)
    query_budget: int = 2000  # classifier queries per path, everything included
    seed: int = 0


class _WithGradient(torch.autograd.Function):
    """Returns ``value`` and passes ``grad`` (d value / d values, estimated elsewhere) back to ``values``."""

    @staticmethod
    def forward(ctx, values, value, grad):
        ctx.save_for_backward(grad)
        return value.clone()

    @staticmethod
    def backward(ctx, grad_out):
        (grad,) = ctx.saved_tensors
        return grad_out.reshape(-1, *[1] * (grad.dim() - 1)) * grad, None, None


class EstimatedTargetLogOdds(LossTerm):
    """Negative target log-odds with an NES gradient estimate (no gradients from either network).

    Randomness is drawn per path from ``seed + path index``, so a path's estimates do not depend on
    which other paths share its batch.
    """

    name = "class"

    def __init__(self, probe: Probe, sigma: float, samples: int = 8, shared_layers: bool = True,
                 seed: int = 0, weight: float = 1.0):
        super().__init__(weight)
        if samples < 1:
            raise ValueError(f"samples must be at least 1, got {samples}")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.probe, self.sigma, self.samples, self.shared = probe, float(sigma), int(samples), shared_layers
        n = probe.targets.numel()
        self.generators = [torch.Generator().manual_seed(int(seed) + i) for i in range(n)]
        self.last_logits: Optional[torch.Tensor] = None

    @property
    def queries_per_step(self) -> int:
        return 2 * self.samples + 1

    def __call__(self, r: Rendered) -> torch.Tensor:
        owners = owners_of(r.code)
        with torch.no_grad():
            logits = self.probe.logits(r.images.detach(), owners)
        self.last_logits = remember(self.last_logits, r, logits)
        value = -self.probe.log_odds(logits, owners)
        if not (torch.is_grad_enabled() and r.code.values.requires_grad):
            return value
        return _WithGradient.apply(r.code.values, value, -self.estimate(r.code))

    def _directions(self, code: LatentCode, owners: List[int]) -> torch.Tensor:
        shape = code.values.shape[1:]
        draw_shape = shape[-1:] if (self.shared and code.space == "w+") else shape
        u = torch.stack([torch.randn(self.samples, *draw_shape, generator=self.generators[i])
                         for i in owners])
        if draw_shape != shape:
            u = u.unsqueeze(2).expand(-1, -1, *shape)
        return u.to(code.values.device)  # [n, q, ...]

    @torch.no_grad()
    def estimate(self, code: LatentCode) -> torch.Tensor:
        """NES estimate of d log-odds / d values for each item of ``code`` (2 * samples queries each)."""
        owners = owners_of(code)
        n, q = len(code), self.samples
        u = self._directions(code, owners.tolist())
        base = code.values.detach().unsqueeze(1)
        points = torch.cat([base + self.sigma * u, base - self.sigma * u], 1)  # [n, 2q, ...]
        rep = owners.repeat_interleave(2 * q)
        ctx = code.select(torch.arange(n).repeat_interleave(2 * q).tolist())
        batch = LatentCode(code.space, points.reshape(n * 2 * q, *code.values.shape[1:]), ctx.noise, ctx.c,
                           code.truncation_psi, {OWNERS: rep})
        _, logits = self.probe.evaluate(batch)
        f = self.probe.log_odds(logits, rep).reshape(n, 2, q)
        diff = (f[:, 0] - f[:, 1]).reshape(n, q, *[1] * (u.dim() - 2))
        return (diff * u).mean(1) / (2 * self.sigma)


def blackbox_paths(probe: Probe, start: LatentCode, frames: int, settings: BlackboxSettings,
                   progress: Optional[Callable] = None, extras=None):
    """Ascent paths for classifiers without gradients, within ``settings.query_budget`` queries per path.

    The budget covers everything: the climb, resampling the frames (at most ``grid`` queries per frame)
    and the final verification pass (one query per frame) are all charged to it.
    """
    spread = latent_stats(probe.G, start.space).coord_std
    score = EstimatedTargetLogOdds(probe, settings.sigma * spread, settings.samples, settings.shared_layers,
                                 settings.seed)
    reserve = frames + max(frames - 2, 0) * settings.grid
    # 2 more: optimize's closing evaluation of the codes, and cross()'s check of the subject image
    climb_budget = settings.query_budget - reserve - 2
    if climb_budget < score.queries_per_step + 1:
        raise ValueError(f"query budget {settings.query_budget} is too small: resampling {frames} frames "
                         f"reserves {reserve} queries and one step costs {score.queries_per_step}")
    if extras is not None and extras.require_judges:
        raise ValueError("--require-judges needs judges' gradients along the path; black-box paths have none "
                         "(judges can still label black-box paths: drop --require-judges)")
    values, info = ascent_paths(probe, start, frames, settings, score=score, needs_image_grad=False,
                                budget=climb_budget, step_cost=score.queries_per_step, progress=progress,
                                extras=extras)
    info["settings"] = dict(asdict(settings), lr_absolute=settings.lr * spread,
                            sigma_absolute=settings.sigma * spread, climb_budget=climb_budget,
                            reserved_queries=reserve)
    return values, info
