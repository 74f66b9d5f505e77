"""Regularised trajectories: all frames of a path optimised jointly under a schedule and an identity weight.

For path i with frames z_1..z_{T-1} after the fixed start z_0 (the subject's code), ``optimize`` minimises

    sum_t |h(f_C(G(z_t))) - h(s_t)|  +  lambda_i * L_id(z_t)  +  mu * |z_t - z_{t-1}|^2 / spread^2

where s_t is the target schedule (from the start's probability to ``end_prob``), h the log-odds (or the
identity), and L_id the latent distance to z_0 (in units of the code spread) and/or the pixel / LPIPS
distance of G(z_t) to the subject image. All N paths x (T-1) frames are one batch.

lambda_i is the largest identity weight with which the path still crosses: a bisection on a log scale,
each round a short batched run of the end frame alone (the frame that has to cross), or given by the user.
The end frame found by the search also initialises the trajectory (frames start on the straight line to it).
Paths whose final frames do not rise or do not cross are repaired (``monotone.fill_frames``) on the frames
that do rise, plus the search's end frame.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch

from inversion import LatentCode, LRSchedule, Objective, Rendered, latent_stats, optimize

from . import monotone
from .probe import OWNERS, Probe, with_owners
from .terms import Identity, ScheduleMatch, Smoothness


@dataclass
class RegularizedSettings:
    steps: int = 40  # joint optimisation steps of the whole trajectory
    lr: float = 0.05  # Adam step, in units of the per-coordinate code spread
    end_prob: float = 0.9  # probability of the target class the last frame is pulled to
    schedule: Union[str, Sequence[float]] = "linear"  # 'linear', 'logodds' or T fractions rising 0 -> 1
    scale: str = "logodds"  # compare frames to the schedule in 'logodds' or 'prob'
    identity: Dict[str, float] = field(default_factory=lambda: {"latent": 1.0, "pixel": 1.0})
    smoothness: float = 1.0  # mu: weight of squared latent steps between consecutive frames
    lam: Optional[float] = None  # identity weight; None searches the largest that still crosses
    lam_range: Tuple[float, float] = (1e-2, 1e4)
    search_rounds: int = 5  # bisection rounds after the first run at lam_range[0]
    search_steps: int = 40  # optimisation steps per search round
    search_prob: Optional[float] = None  # an end frame "crosses" at this p_C (default end_prob - 0.1, >= 0.5)
    grid: int = 7  # points per segment when repairing frames


def _identity_weights(settings: RegularizedSettings, spread: float) -> Dict[str, float]:
    weights = dict(settings.identity)
    if "latent" in weights:
        weights["latent"] = weights["latent"] / spread ** 2  # scale-free across generators
    return weights


def _crossed(probe: Probe, logits: torch.Tensor, owners: torch.Tensor) -> torch.Tensor:
    return probe.is_target(logits, owners).cpu()


def _end_crossed(probe: Probe, logits: torch.Tensor, owners: torch.Tensor,
                 settings: RegularizedSettings) -> torch.Tensor:
    """Search success: classified as the target and close to ``end_prob`` (the identity term pulls back)."""
    level = settings.search_prob if settings.search_prob is not None else max(0.5, settings.end_prob - 0.1)
    return probe.past(logits, owners, level).cpu()


def end_frames(probe: Probe, start: LatentCode, reference: torch.Tensor, lam: torch.Tensor,
               settings: RegularizedSettings, spread: float, paths: torch.Tensor, progress=None):
    """Optimise only the end frame of ``paths`` (indices into ``start``) under identity weights ``lam``.

    Returns (values, logits, interrupted) for those paths.
    """
    idx = paths.tolist()
    code = with_owners(start.select(idx).detach(), paths)
    params = code.parameters(noise=False)
    device = code.values.device
    cls = ScheduleMatch(probe, torch.full((len(idx),), settings.end_prob, device=device), settings.scale)
    ident = Identity(start.values[idx], reference[idx], _identity_weights(settings, spread), lam.to(device))
    objective = Objective([cls, ident])

    def step_objective(step: int, t: float):
        return objective(Rendered(probe.render(code), None, code))

    result = optimize(params, step_objective, settings.search_steps,
                      LRSchedule(settings.lr * spread, 0.0, 0.25), progress=progress)
    return code.values.detach(), cls.last_logits, result.interrupted


def search_lambda(probe: Probe, start: LatentCode, reference: torch.Tensor, settings: RegularizedSettings,
                  spread: float, progress=None):
    """Per path, the largest lambda in ``lam_range`` (log-bisection) whose end frame crosses.

    Returns (lam [N], end values [N, ...], end logits [N, K], crossed [N], interrupted, rounds run).
    """
    n = len(start)
    lo_l, hi_l = (math.log(v) for v in settings.lam_range)
    if not lo_l < hi_l:
        raise ValueError(f"lam_range must be (low, high) with 0 < low < high, got {settings.lam_range}")
    all_paths = torch.arange(n)
    if settings.lam is not None:
        lam = torch.full((n,), float(settings.lam))
        values, logits, interrupted = end_frames(probe, start, reference, lam, settings, spread, all_paths,
                                                 progress)
        return lam, values, logits, _end_crossed(probe, logits, all_paths, settings), interrupted, 1
    lam = torch.full((n,), math.exp(lo_l))
    values, logits, interrupted = end_frames(probe, start, reference, lam, settings, spread, all_paths,
                                             progress)
    ok = _end_crossed(probe, logits, all_paths, settings)
    lo, hi = torch.full((n,), lo_l), torch.full((n,), hi_l)
    rounds = 1
    for _ in range(settings.search_rounds):
        live = ok.nonzero().flatten()  # paths that cannot cross at the smallest lambda stop searching
        if interrupted or live.numel() == 0:
            break
        mid = (lo[live] + hi[live]) / 2
        v, lg, interrupted = end_frames(probe, start, reference, mid.exp(), settings, spread, live, progress)
        rounds += 1
        good = _end_crossed(probe, lg, live, settings)
        lo[live] = torch.where(good, mid, lo[live])
        hi[live] = torch.where(good, hi[live], mid)
        keep = live[good]
        lam[keep] = mid[good].exp()
        values[keep.to(values.device)] = v[good.to(v.device)]
        logits[keep.to(logits.device)] = lg[good.to(lg.device)]
    return lam, values, logits, ok, interrupted, rounds


def trajectory(probe: Probe, start: LatentCode, reference: torch.Tensor, end_values: torch.Tensor,
               lam: torch.Tensor, targets: torch.Tensor, settings: RegularizedSettings, spread: float,
               progress=None):
    """Jointly optimise frames 1..T-1 of every path; returns (values [N, T-1, ...], logits, interrupted)."""
    n, frames = targets.shape
    inner = frames - 1
    frac = torch.arange(1, frames, dtype=torch.float32, device=end_values.device) / inner
    frac = frac.reshape(1, inner, *[1] * (end_values.dim() - 1))
    base = start.values.detach().unsqueeze(1)
    init = base + (end_values.unsqueeze(1) - base) * frac  # frames start on the line to the end frame
    owners = torch.arange(n).repeat_interleave(inner)
    ctx = start.select(owners.tolist())
    code = LatentCode(start.space, init.reshape(n * inner, *end_values.shape[1:]).clone(), ctx.noise, ctx.c,
                      start.truncation_psi, {OWNERS: owners})
    params = code.parameters(noise=False)
    device = code.values.device
    cls = ScheduleMatch(probe, targets[:, 1:].reshape(-1).to(device), settings.scale)
    ident = Identity(start.values[owners.to(device)], reference[owners.to(reference.device)],
                     _identity_weights(settings, spread), lam[owners].to(device))
    terms = [cls, ident]
    if settings.smoothness > 0:
        terms.append(Smoothness(start.values, inner, settings.smoothness / spread ** 2))
    objective = Objective(terms)

    def step_objective(step: int, t: float):
        return objective(Rendered(probe.render(code), None, code))

    result = optimize(params, step_objective, settings.steps, LRSchedule(settings.lr * spread, 0.0, 0.25),
                      progress=progress)
    return code.values.detach().reshape(n, inner, *end_values.shape[1:]), cls.last_logits, result.interrupted


def regularized_paths(probe: Probe, start: LatentCode, reference: torch.Tensor, frames: int,
                      settings: RegularizedSettings, progress: Optional[Callable] = None):
    """Search lambda, optimise the trajectories, repair what does not rise: (values [N, T, ...], info)."""
    n = len(start)
    spread = latent_stats(probe.G, start.space).coord_std
    start = with_owners(start.detach(), torch.arange(n))
    t0 = time.perf_counter()
    _, start_logits = probe.evaluate(start)
    paths = torch.arange(n)
    p_start = probe.target_prob(start_logits, paths).cpu()
    lam, end_values, end_logits, end_ok, interrupted, rounds = search_lambda(
        probe, start, reference, settings, spread, progress)
    t1 = time.perf_counter()
    p_end = torch.full((n,), float(settings.end_prob))
    targets = monotone.schedule_targets(p_start, torch.maximum(p_end, p_start), frames, settings.schedule)
    values = inner_logits = None
    if not interrupted:
        values, inner_logits, interrupted = trajectory(probe, start, reference, end_values, lam, targets,
                                                       settings, spread, progress)
    t2 = time.perf_counter()
    if values is None:  # interrupted during the search: the straight line to the end frames
        frac = torch.arange(1, frames, dtype=torch.float32) / (frames - 1)
        base = start.values.detach().unsqueeze(1)
        frac = frac.reshape(1, -1, *[1] * (end_values.dim() - 1)).to(base.device)
        values = base + (end_values.unsqueeze(1) - base) * frac
        _, inner_logits = probe.evaluate(_frames_code(start, values))
    full = torch.cat([start.values.detach().unsqueeze(1), values], 1)
    inner_owners = paths.repeat_interleave(frames - 1)
    inner_probs = probe.target_prob(inner_logits, inner_owners).cpu().reshape(n, frames - 1)
    probs = torch.cat([p_start.unsqueeze(1), inner_probs], 1)
    last_target = _crossed(probe, inner_logits, inner_owners).reshape(n, frames - 1)[:, -1]
    needs_repair = (~monotone.check(probs)) | (~last_target & end_ok)
    repaired = torch.zeros(n, dtype=torch.bool)
    if bool(needs_repair.any()) and not interrupted:
        end_probs = probe.target_prob(end_logits, paths).cpu()
        extra = [(end_values[i], float(end_probs[i])) if bool(end_ok[i]) else None for i in range(n)]
        full, repaired = monotone.repair(probe, start, full, probs, needs_repair, extra, settings.grid,
                                               settings.schedule)
    t3 = time.perf_counter()
    info = dict(timings={"search": t1 - t0, "trajectory": t2 - t1, "repair": t3 - t2},
                interrupted=interrupted, lam=lam, search_rounds=rounds, end_frame_crossed=end_ok.tolist(),
                repaired=repaired,
                settings=dict(asdict(settings), lr_absolute=settings.lr * spread, code_spread=spread))
    return full, info


def _frames_code(start: LatentCode, values: torch.Tensor) -> LatentCode:
    n, t = values.shape[:2]
    owners = torch.arange(n).repeat_interleave(t)
    ctx = start.select(owners.tolist())
    return LatentCode(start.space, values.reshape(n * t, *values.shape[2:]), ctx.noise, ctx.c,
                      start.truncation_psi, {OWNERS: owners})
