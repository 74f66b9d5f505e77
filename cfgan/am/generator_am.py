"""Activation maximisation through a generator: z* = argmax_z f(G(z)), so x* = G(z*) stays on the manifold.

Pixel-space maximisation finds adversarial textures; searching the generator's latent space instead (as
in DGN-AM / "synthesizing preferred inputs") only visits images the generator can make, so the answer to
"what does the classifier think a coat looks like?" is a coat. Composition of the shared pieces: a
``LatentCode`` per (target, restart), an ``Objective`` of a ``Score`` (the target), a ``LatentPrior``
(stay in the typical region) and optionally ``Diversity``; one ``inversion.optimize`` run for the batch.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch

from inversion import (
    LatentCode,
    LatentPrior,
    LRSchedule,
    Objective,
    Rendered,
    Score,
    check_space,
    latent_stats,
    optimize,
)

from .objectives import TargetScore, assignment_for, resolve_targets
from .result import AMResult
from .terms import Diversity


@contextlib.contextmanager
def frozen(*modules):
    """No parameter gradients for these modules during the block (restored afterwards): AM only needs
    gradients with respect to the code, and must not leave ``.grad`` buffers on the user's models."""
    saved = [(p, p.requires_grad) for m in modules for p in m.parameters()]
    for p, _ in saved:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)


def check_classifier_for_am(classifier) -> None:
    if not getattr(classifier, "has_gradients", True):
        raise ValueError(f"classifier {classifier.name} has no gradients (a numpy callable): activation "
                         "maximisation needs a differentiable torch model")


def check_stop_at(stop_at: Optional[float]) -> None:
    if stop_at is not None and not 0 < stop_at < 1:
        raise ValueError(f"stop_at must be a probability in (0, 1), got {stop_at}")


class Stopper:
    """``optimize``'s stop callback: items whose class probability reached ``stop_at`` are finished.
    ``done`` remembers them, so post-step hooks (e.g. pixel AM's blur) can leave them alone too."""

    def __init__(self, score_fn: TargetScore, stop_at: float):
        self.score_fn, self.stop_at = score_fn, stop_at
        self.done = torch.zeros(len(score_fn.assignment), dtype=torch.bool)

    def __call__(self, loss: torch.Tensor, terms) -> torch.Tensor:
        self.done = self.done | self.score_fn.reached(self.stop_at)
        return self.done.to(loss.device)


def stopper(score_fn: TargetScore, stop_at: Optional[float]) -> Optional[Stopper]:
    return None if stop_at is None else Stopper(score_fn, stop_at)


def truncated(code: LatentCode, G, psi: float) -> LatentCode:
    """The code pulled towards the average (psi < 1): Z through the mapping's truncation, W/W+ directly."""
    if psi == 1.0:
        return code
    if code.space == "z":
        return LatentCode("z", code.values, code.noise, code.c, psi)
    w_avg = G.w_avg.reshape(*([1] * (code.values.dim() - 1)), -1).to(code.values.device)
    return LatentCode(code.space, w_avg + psi * (code.values - w_avg), code.noise, code.c, 1.0)


@torch.no_grad()
def best_of_k(G, score_fn: TargetScore, restarts: int, k: int, seed: int, truncation_psi: float,
              noise_mode: str, batch: int = 64) -> torch.Tensor:
    """z [T * restarts, z_dim]: per target, the ``restarts`` best of ``k`` random codes (forward only)."""
    pool = G.sample_z(k, seed)
    scores = []
    for start in range(0, k, batch):
        z = pool[start:start + batch]
        code = truncated(LatentCode.from_z(G, z, "w" if "w" in G.spaces else "z"), G, truncation_psi)
        scores.append(score_fn.matrix(code.render(G, noise_mode=noise_mode)).cpu())
    best = torch.cat(scores).topk(restarts, dim=0).indices  # [restarts, T]
    return pool[best.t().reshape(-1).to(pool.device)]


@dataclass
class AMSettings:
    """How generator AM searches; recorded with its results.

    - space: 'z', 'w' or 'w+' (W is usually the best trade-off: expressive, still on the manifold).
    - restarts: starts per target, all optimised in one batch.
    - class_score: 'logprob' (default), 'logit' or 'prob' for class targets.
    - prior: weight of the distance to the typical region (|z|^2 in Z, distance to w_avg in W/W+),
      scaled so that a typical random code costs ``prior``.
    - diversity: weight of the term pushing restarts of a target apart (image space, or the classifier's
      features with ``diversity_features``).
    - truncation_psi: render ``w_avg + psi (w - w_avg)`` (psi < 1 trades variety for typicality).
    - clip: keep every code dimension within the range observed on random samples (DGN-AM style).
    - init: 'best-of-k' (each target starts from its ``restarts`` best-scoring codes among ``k`` random
      samples: far fewer steps are needed, at the cost of ``k`` forward passes) or 'random' (restart r of
      every target starts from the same random code).
    - stop_at: freeze an item once its class probability reaches this value (None: maximise all the way).
      Unbounded maximisation makes "super-stimuli" whose classifier features lie beyond those of any
      real image; stopping at, e.g., 0.995 keeps the least-pushed confident image.
    """

    space: str = "w"
    restarts: int = 16
    steps: int = 100
    lr: float = 0.1
    class_score: str = "logprob"
    prior: float = 0.1
    diversity: float = 0.0
    diversity_features: bool = False
    truncation_psi: float = 1.0
    clip: bool = False
    init: str = "best-of-k"
    k: int = 256
    stop_at: Optional[float] = None
    noise_mode: str = "const"
    seed: int = 0


def maximize(G, classifier, targets: Sequence, settings: Optional[AMSettings] = None, *,
             progress: Optional[Callable[[int, int, dict], None]] = None, memory=None, **overrides) -> AMResult:
    """Maximise each target's score over generator codes; all targets x restarts in one batch.

    ``targets``: class names/indices and/or ``Unit(layer, index)`` objects. ``settings`` (``AMSettings``) or
    keyword overrides of its fields choose the search. ``memory`` bounds the images rendered per pass
    (``inversion.MemoryBound`` or an int); with ``diversity`` a pass keeps a target's restarts together.
    """
    cfg = dataclasses.replace(settings or AMSettings(), **overrides)
    space, restarts, steps, lr, class_score = cfg.space, cfg.restarts, cfg.steps, cfg.lr, cfg.class_score
    prior, diversity, truncation_psi, clip, init, k = (cfg.prior, cfg.diversity, cfg.truncation_psi, cfg.clip,
                                                       cfg.init, cfg.k)
    stop_at, noise_mode, seed = cfg.stop_at, cfg.noise_mode, cfg.seed
    space = check_space(G, space)
    check_classifier_for_am(classifier)
    if G.c_dim:
        raise ValueError("generator AM supports unconditional generators only (this one has c_dim="
                         f"{G.c_dim})")
    if restarts < 1 or steps < 0:
        raise ValueError(f"need restarts >= 1 and steps >= 0, got restarts={restarts}, steps={steps}")
    if not 0 < truncation_psi <= 1:
        raise ValueError(f"truncation_psi must be in (0, 1], got {truncation_psi}")
    if init not in ("random", "best-of-k"):
        raise ValueError(f"init must be 'random' or 'best-of-k', got {init!r}")
    check_stop_at(stop_at)
    if init == "best-of-k" and k < restarts:
        raise ValueError(f"best-of-k init needs k >= restarts, got k={k} for {restarts} restarts")
    targets = resolve_targets(classifier, targets)
    assignment = assignment_for(len(targets), restarts)
    n = len(assignment)
    start = time.perf_counter()

    stats = latent_stats(G, space)
    typical, lo, hi = stats.mean_square, stats.low, stats.high
    score_fn = TargetScore(classifier, targets, assignment, class_score)
    if init == "random":
        z = G.sample_z(restarts, seed).repeat(len(targets), 1)
    else:
        z = best_of_k(G, score_fn, restarts, k, seed, truncation_psi, noise_mode)
    code = LatentCode.from_z(G, z, space)
    terms = [Score(score_fn, name="score")]
    if prior:
        terms.append(LatentPrior(None if space == "z" else G.w_avg, weight=prior / typical))
    if diversity:
        terms.append(Diversity(assignment, classifier.features if cfg.diversity_features else None, diversity))
    objective = Objective(terms)
    initial = {}

    def step_objective(step: int, t: float, items: Optional[torch.Tensor] = None):
        part = code if items is None else code.select(items)
        images = truncated(part, G, truncation_psi).render(G, noise_mode=noise_mode)
        total, values = objective(Rendered(images, None, part, items, code))
        if step == 0:  # the starting scores, filled chunk by chunk under a memory bound
            score = -values["score"].detach()
            if items is None:
                initial.setdefault("score", score)
            else:
                initial.setdefault("score", torch.zeros(n, device=score.device, dtype=score.dtype))
                initial["score"][items.to(score.device)] = score
        return total, values

    def clip_codes():
        if clip:
            v = code.values.data
            v.copy_(torch.maximum(torch.minimum(v, hi.to(v)), lo.to(v)))

    with frozen(G, classifier):
        result = optimize(code.parameters(noise=False), step_objective, steps, LRSchedule(lr, 0.05, 0.25),
                          batched=True, keep_best=True, project=clip_codes, stop=stopper(score_fn, stop_at),
                          log_every=max(1, steps // 20), progress=progress, memory=memory,
                          groups=assignment if diversity else None)
    final = truncated(code.detach(), G, truncation_psi).detach()
    with torch.no_grad():
        images = final.render(G, noise_mode=noise_mode)
        probs = classifier.probs(images)
    settings = dict(method="generator", space=space, restarts=restarts, steps=steps, lr=lr,
                    class_score=class_score, prior=prior, prior_scale=1.0 / typical, diversity=diversity,
                    diversity_space="features" if cfg.diversity_features else "image",
                    truncation_psi=truncation_psi, clip=clip, stop_at=stop_at, init=init,
                    k=k if init == "best-of-k" else None, noise_mode=noise_mode, seed=seed,
                    targets=[t.label for t in targets], num_images=n)
    return AMResult("generator", targets, assignment, images.detach().cpu(), -result.terms["score"].cpu(),
                    initial.get("score", -result.terms["score"]).cpu(), probs.detach().float().cpu(), final,
                    settings, result.history, result.interrupted, time.perf_counter() - start)
