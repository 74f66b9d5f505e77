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
from dataclasses import asdict, dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch

from inversion import LatentCode, LossTerm, Objective, Rendered, latent_stats, optimize

from . import monotone
from .probe import OWNERS, Probe, with_owners
from .terms import JudgeLogOdds, TargetLogOdds


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
    past: torch.Tensor  # bool [N]: finished (reached end_prob, and the judges agree when they are required)
    queries_at_past: List[Optional[int]]  # classifier queries spent when it finished
    steps_run: int
    interrupted: bool
    steps_at_past: List[Optional[int]] = field(default_factory=list)  # optimisation step it finished at
    chunk_items: Optional[int] = None  # most items one pass held (memory bound)


def climb(probe: Probe, start: LatentCode, score: LossTerm, steps: int, lr, end_prob: float,
          needs_image_grad: bool = True, budget: Optional[int] = None, step_cost: int = 1,
          progress: Optional[Callable] = None, extra_terms: Sequence[LossTerm] = (),
          judges: Optional[JudgeLogOdds] = None, require_judges: bool = False,
          start_values: Optional[torch.Tensor] = None, memory=None) -> Trace:
    """Descend ``score`` (+ ``extra_terms``) from ``start`` (N codes) with optimize; record every step that
    beats a path's best probability of its target.

    ``score`` must set ``last_logits`` when called. A path finishes (and is frozen) once it is classified as
    the target with p >= ``end_prob`` and, with ``require_judges``,
    every judge of ``judges`` (a ``JudgeLogOdds`` term, also in the objective) classifies it as the target.
    A finishing point that does not beat the path's best probability (the judges moved it on while the
    explained classifier held still) becomes the last anchor; recorded anchors above it are dropped, so the
    anchors still rise. With ``budget``, a path stops before a step would take its classifier queries past
    ``budget`` (``step_cost`` queries per step). ``start_values``: where the iterates begin (default the start
    codes; the first anchor is always the start code itself). ``memory``: ``optimize``'s memory bound.
    """
    n = len(start)
    owners = start.meta.get(OWNERS)
    owners = torch.arange(n) if owners is None else owners  # the paths these items are (probe accounting)
    code = start.detach()
    if start_values is not None:
        code = LatentCode(code.space, start_values.detach().clone().to(code.values.device), code.noise, code.c,
                          code.truncation_psi, dict(code.meta))
    params = code.parameters(noise=False)
    terms = [score] + list(extra_terms)
    if judges is not None and all(t is not judges for t in terms):
        terms.append(judges)
    objective = Objective(terms)
    active = torch.ones(n, dtype=torch.bool)
    past = torch.zeros(n, dtype=torch.bool)
    best = torch.full((n,), -1.0)
    queries_at_past: List[Optional[int]] = [None] * n
    steps_at_past: List[Optional[int]] = [None] * n
    anchors: List[List[torch.Tensor]] = [[] for _ in range(n)]
    probs: List[List[float]] = [[] for _ in range(n)]
    if start_values is not None:  # iterates begin elsewhere: the start code itself opens each record
        with torch.no_grad():
            _, start_logits = probe.evaluate(with_owners(start.detach(), owners))
        p_start = probe.target_prob(start_logits, owners).cpu()
        for i in range(n):
            anchors[i].append(start.values[i].detach().cpu().clone())
            probs[i].append(float(p_start[i]))
            best[i] = p_start[i]

    def step_objective(step: int, t: float, items: Optional[torch.Tensor] = None):
        rows = torch.arange(n) if items is None else items
        idx = rows[active[rows]]
        device = code.values.device
        m = len(rows)
        if idx.numel() == 0:
            zero = code.values.sum() * 0
            return zero.expand(m), {term.name: torch.zeros(m, device=device) for term in terms}
        view_idx = idx.tolist()
        ctx = code.select(view_idx)
        paths = owners[idx]
        view = LatentCode(code.space, code.values[idx.to(device)], ctx.noise, ctx.c, code.truncation_psi,
                          {OWNERS: paths})
        with torch.set_grad_enabled(torch.is_grad_enabled() and needs_image_grad):
            images = probe.render(view)
        sub_loss, sub_terms = objective(Rendered(images, None, view, idx, code))
        logits = score.last_logits[idx.to(score.last_logits.device)]
        p = probe.target_prob(logits, paths).cpu()
        now_done = probe.past(logits, paths, end_prob).cpu()
        if require_judges and judges is not None:
            for j, judge_logits in enumerate(judges.last_logits):
                jl = judge_logits[idx.to(judge_logits.device)]
                now_done &= (jl.argmax(1).cpu() == judges.targets[j][paths])
        for k, i in enumerate(view_idx):
            value = view.values[k].detach().cpu().clone()
            rose = float(p[k]) > float(best[i])
            if rose:
                best[i] = p[k]
                anchors[i].append(value)
                probs[i].append(float(p[k]))
            if bool(now_done[k]) and not bool(past[i]):
                if not rose:  # finished without beating the best (the judges moved it on): end the record here
                    while len(probs[i]) > 1 and probs[i][-1] > float(p[k]):
                        probs[i].pop()
                        anchors[i].pop()
                    if float(p[k]) >= probs[i][-1]:
                        anchors[i].append(value)
                        probs[i].append(float(p[k]))
                past[i], queries_at_past[i], steps_at_past[i] = True, int(probe.queries[owners[i]]), step
        loss = torch.zeros(m, device=device)
        where = torch.searchsorted(rows, idx).to(device)
        loss = loss.index_put((where,), sub_loss)
        out_terms = {k: torch.zeros(m, device=device).index_put((where,), v.detach()) for k, v in sub_terms.items()}
        return loss, out_terms

    def stop(loss, terms):
        done = past.clone()
        if budget is not None:
            done |= probe.queries[owners] + step_cost > budget
        active.copy_(~done)
        return done.to(loss.device)

    result = optimize(params, step_objective, steps, lr=lr, batched=True, stop=stop, progress=progress,
                      memory=memory)
    return Trace([torch.stack(a) for a in anchors], [torch.tensor(p) for p in probs], past.clone(),
                 queries_at_past, result.steps_run, result.interrupted, steps_at_past, result.chunk_items)



def resample(probe: Probe, start: LatentCode, trace: Trace, frames: int, grid: int,
             schedule: Union[str, Sequence[float]] = "linear") -> Tuple[torch.Tensor, torch.Tensor, List[int]]:
    """T frames along each climb spaced by ``schedule`` (default: evenly in probability):
    (values [N, T, ...], probs, searches)."""
    anchors = [a.to(start.values.device) for a in trace.anchors]
    return monotone.lay_frames(probe, start, anchors, trace.probs, frames, schedule, grid)


def ascent_paths(probe: Probe, start: LatentCode, frames: int, settings: AscentSettings,
                 score: Optional[LossTerm] = None, needs_image_grad: bool = True,
                 budget: Optional[int] = None, step_cost: int = 1, progress: Optional[Callable] = None,
                 extras=None):
    """Climb, then resample: (values [N, T, ...], info dict with per-phase seconds and flags). ``extras``:
    ``api.PathExtras`` (judges in the objective, diversity between a subject's paths, restarts, memory)."""
    from .api import PathExtras

    extras = extras if extras is not None else PathExtras()
    score = score if score is not None else TargetLogOdds(probe)
    spread = latent_stats(probe.G, start.space).coord_std
    n = len(start)
    rows = torch.arange(n)
    extra_terms = [] if extras.diversity is None else [extras.diversity_for(rows)]
    t0 = time.perf_counter()
    trace = climb(probe, start, score, settings.steps, settings.lr * spread, settings.end_prob,
                  needs_image_grad=needs_image_grad, budget=budget, step_cost=step_cost, progress=progress,
                  extra_terms=extra_terms, judges=extras.judges_for(rows), require_judges=extras.require_judges,
                  start_values=extras.start_values, memory=extras.memory)
    t1 = time.perf_counter()
    values, _, searched = resample(probe, start, trace, frames, settings.grid, settings.schedule)
    t2 = time.perf_counter()
    info = dict(timings={"climb": t1 - t0, "resample": t2 - t1}, steps_run=trace.steps_run,
                interrupted=trace.interrupted, reached_end_prob=trace.past.tolist(),
                recorded_steps=[len(p) for p in trace.probs], resampled_slots=searched,
                queries_at_end_prob=trace.queries_at_past,
                settings=dict(asdict(settings), lr_absolute=settings.lr * spread))
    return values, info
