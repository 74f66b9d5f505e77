"""Gradient-ascent paths: climb f_C(G(z)) from the start code, record the climb, keep T frames of it.

The climb is ``inversion.optimize`` on one loss term, the negative log-odds of the target class (Adam's
per-coordinate normalisation is the step control). Only paths still climbing are rendered; a path stops,
frozen by optimize's ``stop``, once it is classified as the target with p_C >= ``end_prob`` (the distance
past the boundary) or when its query budget is spent. Each step that raises a path's best probability is
recorded; the record is resampled to T frames evenly spaced in probability (``monotone.fill_frames``).

The score term is pluggable: ``TargetLogOdds`` backpropagates through the classifier, the black-box
``blackbox.EstimatedTargetLogOdds`` supplies a zeroth-order estimate of the same gradient.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch

from inversion import LatentCode, LossTerm, Objective, Rendered, latent_stats, optimize

from . import monotone
from .probe import OWNERS, Probe
from .terms import TargetLogOdds


@dataclass
class AscentSettings:
    steps: int = 300  # most optimisation steps per path
    lr: float = 0.02  # Adam step, in units of the per-coordinate spread of codes in the path's space
    end_prob: float = 0.9  # stop once classified as the target with at least this probability
    grid: int = 7  # points per segment when resampling frames between recorded steps
    schedule: Union[str, Sequence[float]] = "linear"  # frame spacing: 'linear', 'logodds' or T fractions 0 -> 1


@dataclass
class Trace:
    """The recorded climb of each path: anchors (values [M_i, ...]) with rising probabilities [M_i]."""

    anchors: List[torch.Tensor]
    probs: List[torch.Tensor]
    past: torch.Tensor  # bool [N]: reached end_prob
    queries_at_past: List[Optional[int]]  # classifier queries spent when end_prob was reached
    steps_run: int
    interrupted: bool


def climb(probe: Probe, start: LatentCode, score: LossTerm, steps: int, lr: float, end_prob: float,
          needs_image_grad: bool = True, budget: Optional[int] = None, step_cost: int = 1,
          progress: Optional[Callable] = None) -> Trace:
    """Ascend ``score`` from ``start`` (N codes) with optimize; record every step that beats a path's best.

    ``score`` must set ``last_logits`` when called. With ``budget``, a path stops before a step would take
    its classifier queries past ``budget`` (``step_cost`` queries per step).
    """
    n = len(start)
    code = start.detach()
    params = code.parameters(noise=False)
    objective = Objective([score])
    active = torch.ones(n, dtype=torch.bool)
    past = torch.zeros(n, dtype=torch.bool)
    best = torch.full((n,), -1.0)
    queries_at_past: List[Optional[int]] = [None] * n
    anchors: List[List[torch.Tensor]] = [[] for _ in range(n)]
    probs: List[List[float]] = [[] for _ in range(n)]

    def step_objective(step: int, t: float):
        idx = active.nonzero().flatten()
        device = code.values.device
        if idx.numel() == 0:
            zero = code.values.sum() * 0
            return zero.expand(n), {score.name: torch.zeros(n, device=device)}
        view_idx = idx.tolist()
        ctx = code.select(view_idx)
        view = LatentCode(code.space, code.values[idx.to(device)], ctx.noise, ctx.c, code.truncation_psi,
                          {OWNERS: idx})
        with torch.set_grad_enabled(torch.is_grad_enabled() and needs_image_grad):
            images = probe.render(view)
        sub_loss, sub_terms = objective(Rendered(images, None, view))
        logits = score.last_logits
        p = probe.target_prob(logits, idx).cpu()
        now_past = probe.past(logits, idx, end_prob).cpu()
        for j, i in enumerate(view_idx):
            if float(p[j]) > float(best[i]):
                best[i] = p[j]
                anchors[i].append(view.values[j].detach().cpu().clone())
                probs[i].append(float(p[j]))
            if bool(now_past[j]) and not bool(past[i]):
                past[i] = True
                queries_at_past[i] = int(probe.queries[i])
        target_idx = idx.to(device)
        loss = torch.zeros(n, device=device).scatter(0, target_idx, sub_loss)
        terms = {k: torch.zeros(n, device=device).scatter(0, target_idx, v.detach())
                 for k, v in sub_terms.items()}
        return loss, terms

    def stop(loss, terms):
        done = past.clone()
        if budget is not None:
            done |= probe.queries + step_cost > budget
        active.copy_(~done)
        return done.to(loss.device)

    result = optimize(params, step_objective, steps, lr=lr, batched=True, stop=stop, progress=progress)
    return Trace([torch.stack(a) for a in anchors], [torch.tensor(p) for p in probs], past.clone(),
                 queries_at_past, result.steps_run, result.interrupted)


def resample(probe: Probe, start: LatentCode, trace: Trace, frames: int, grid: int,
             schedule: Union[str, Sequence[float]] = "linear") -> Tuple[torch.Tensor, torch.Tensor, List[int]]:
    """T frames along each climb spaced by ``schedule`` (default: evenly in probability):
    (values [N, T, ...], probs, searches)."""
    anchors = [a.to(start.values.device) for a in trace.anchors]
    return monotone.lay_frames(probe, start, anchors, trace.probs, frames, schedule, grid)


def ascent_paths(probe: Probe, start: LatentCode, frames: int, settings: AscentSettings,
                 score: Optional[LossTerm] = None, needs_image_grad: bool = True,
                 budget: Optional[int] = None, step_cost: int = 1, progress: Optional[Callable] = None):
    """Climb, then resample: (values [N, T, ...], info dict with per-phase seconds and flags)."""
    score = score if score is not None else TargetLogOdds(probe)
    spread = latent_stats(probe.G, start.space).coord_std
    t0 = time.perf_counter()
    trace = climb(probe, start, score, settings.steps, settings.lr * spread, settings.end_prob,
                  needs_image_grad=needs_image_grad, budget=budget, step_cost=step_cost, progress=progress)
    t1 = time.perf_counter()
    values, _, searched = resample(probe, start, trace, frames, settings.grid, settings.schedule)
    t2 = time.perf_counter()
    info = dict(timings={"climb": t1 - t0, "resample": t2 - t1}, steps_run=trace.steps_run,
                interrupted=trace.interrupted, reached_end_prob=trace.past.tolist(),
                recorded_steps=[len(p) for p in trace.probs], resampled_slots=searched,
                queries_at_end_prob=trace.queries_at_past,
                settings=dict(asdict(settings), lr_absolute=settings.lr * spread))
    return values, info
