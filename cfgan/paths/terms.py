"""Loss terms of the path methods (``inversion.LossTerm`` subclasses, one value per batch item).

Path batches hold the frames of many paths at once; each item's owning path is in ``code.meta['owners']``
so classifier queries are charged to the right path.

Every term is chunk-aware (``inversion.optimize``'s memory bound): per-item data is read with ``r.rows``,
logits kept for the caller are written by rows (``last_logits`` always describes the whole batch), and
terms that couple items (``Smoothness``, ``EndDiversity``) read the other items' latent values from
``r.batch``, which a chunk holds in full.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch

from inversion import LossTerm, Rendered
from inversion.losses import masked_mean

from .probe import Probe, log_odds_of, owners_of, target_log_odds


def _batch_size(r: Rendered) -> int:
    return r.images.shape[0] if r.batch is None else len(r.batch)


def remember(previous: Optional[torch.Tensor], r: Rendered, value: torch.Tensor) -> torch.Tensor:
    """``value`` [n, ...] of the rendered rows written into a whole-batch tensor (chunks fill their rows)."""
    value = value.detach()
    if r.items is None:
        return value
    n = _batch_size(r)
    if previous is None or previous.shape != (n,) + tuple(value.shape[1:]) or previous.device != value.device:
        previous = value.new_zeros((n,) + tuple(value.shape[1:]))
    previous[r.items.to(value.device)] = value
    return previous


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
        self.last_logits = remember(self.last_logits, r, logits)
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
        self.last_logits = remember(self.last_logits, r, logits)
        targets = r.rows(self.targets).to(logits.device)
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
        v = (r.batch if r.batch is not None else r.code).values  # the neighbours may be in another chunk
        n = v.shape[0] // self.frames
        paths = v.reshape(n, self.frames, *v.shape[1:])
        prev = torch.cat([self.start.to(v.device).unsqueeze(1), paths[:, :-1]], 1)
        value = ((paths - prev) ** 2).flatten(2).mean(2).reshape(-1)
        return r.rows(value)


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
        return r.rows(self.scale).to(r.images.device) * self.unscaled(r)

    def unscaled(self, r: Rendered) -> torch.Tensor:
        """The identity distance itself, before the per-item weight lambda."""
        device = r.images.device
        total = torch.zeros(r.images.shape[0], device=device)
        if "latent" in self.weights:
            diff = r.code.values - r.rows(self.latent_ref).to(device)
            total = total + self.weights["latent"] * (diff ** 2).flatten(1).mean(1)
        if "pixel" in self.weights:
            err = (r.images - r.rows(self.image_ref).to(device)) ** 2
            total = total + self.weights["pixel"] * masked_mean(err, None)
        if self.lpips is not None:
            total = total + self.weights["lpips"] * self.lpips(r)
        return total


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
        log_p = r.rows(self.log_p)
        return (log_p.exp() * (log_p - log_q)).sum(1)


class JudgeLogOdds(LossTerm):
    """``--require-judges``: minus each judge's target log-odds, capped at ``cap`` (summed over judges).

    The explained classifier crosses; this term keeps independent classifiers (the judges) moving towards
    the same class, so the change is one they see too. The cap stops paying a judge once it is confident
    (log-odds ``cap``), so the term does not drag a path further than needed. ``last_logits`` holds each
    judge's logits [N, K] of the last call. Judge queries are not charged to the explained classifier.
    """

    name = "judges"

    def __init__(self, judges: Sequence, targets: Sequence[torch.Tensor], cap: float = 2.0, weight: float = 1.0,
                 item_mask: Optional[torch.Tensor] = None):
        super().__init__(weight)
        self.judges = list(judges)
        self.targets = [torch.as_tensor(t).long().reshape(-1).cpu() for t in targets]  # per judge: class per path
        self.cap = float(cap)
        self.item_mask = None if item_mask is None else torch.as_tensor(item_mask).bool().cpu()
        self.last_logits: List[Optional[torch.Tensor]] = [None] * len(self.judges)

    def __call__(self, r: Rendered) -> torch.Tensor:
        owners = owners_of(r.code)
        total = torch.zeros(r.images.shape[0], device=r.images.device)
        for j, (judge, targets) in enumerate(zip(self.judges, self.targets)):
            logits = judge(r.images)
            self.last_logits[j] = remember(self.last_logits[j], r, logits)
            odds = target_log_odds(logits, targets[owners].to(logits.device))
            total = total - odds.clamp(max=self.cap)
        if self.item_mask is not None:
            total = total * r.rows(self.item_mask).to(total.device)
        return total


class EndDiversity(LossTerm):
    """``--paths-per-image``: minus the mean distance of a path's end code to the end codes of the other paths of
    the same subject (RMS over coordinates, in units of the code spread).

    The batch holds ``frames`` items per path, path-major, the last of them the end frame (``frames=1``: one
    item per path, the iterate being searched). ``subjects`` [P] names each path's subject. Only end-frame
    items get a value (others 0). The distance is latent, so the term reads the other paths' codes from the
    parameters and needs no rendered image of theirs (chunk-aware). Paths alone with their subject get 0.
    """

    name = "diversity"

    def __init__(self, subjects: torch.Tensor, spread: float, weight: float = 1.0, frames: int = 1,
                 eps: float = 1e-8):
        super().__init__(weight)
        self.subjects = torch.as_tensor(subjects).long().reshape(-1).cpu()
        self.spread, self.frames, self.eps = float(spread), int(frames), float(eps)

    def __call__(self, r: Rendered) -> torch.Tensor:
        whole = (r.batch if r.batch is not None else r.code).values
        paths = self.subjects.numel()
        if whole.shape[0] != paths * self.frames:
            raise ValueError(f"EndDiversity expects {self.frames} items for each of {paths} paths, got "
                             f"{whole.shape[0]}")
        ends = whole.reshape(paths, self.frames, -1)[:, -1]  # [P, D]
        items = torch.arange(whole.shape[0]) if r.items is None else r.items.cpu()  # batch rows rendered
        path, is_end = items // self.frames, (items % self.frames) == self.frames - 1
        mine = r.code.values.flatten(1)
        dist = ((mine.unsqueeze(1) - ends.unsqueeze(0)).pow(2).mean(-1) / self.spread ** 2 + self.eps).sqrt()
        same = self.subjects[path].unsqueeze(1) == self.subjects.unsqueeze(0)  # [n, P]
        same = same & (path.unsqueeze(1) != torch.arange(paths).unsqueeze(0)) & is_end.unsqueeze(1)
        same = same.to(dist.device)
        count = same.sum(1).clamp_min(1)
        return -(dist * same).sum(1) / count
