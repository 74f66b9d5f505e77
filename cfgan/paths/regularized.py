"""Regularised trajectories: the frames of a path optimised jointly under a schedule and an identity weight.

For path i with frames z_1..z_{T-1} after the fixed start z_0 (the subject's code), ``optimize`` minimises

    sum_t |h(f_C(G(z_t))) - h(s_t)|  +  lambda_i * L_id(z_t)  +  mu * |z_t - z_{t-1}|^2 / spread^2

where s_t is the target schedule (from the start's probability to ``end_prob``), h the log-odds (or the
identity), and L_id the latent distance to z_0 (in units of the code spread) and/or the pixel / LPIPS
distance of G(z_t) to the subject image. All paths' frames are one batch.

lambda_i is the largest identity weight with which the path still crosses (its end frame reaches
``search_prob``, default ``end_prob - 0.1``). Two ways to find it:

- ``search='adaptive'`` (default; about the cost of an ascent path). No separate search: one joint run of a
  few *key frames* per path (the end frame, the first frame scheduled at or past p = 0.5, and
  ``key_frames - 1`` others, ``adaptive_steps`` steps) in which lambda_i itself adapts. It starts at
  ``lam_boost`` times an estimate (``initial_lambda``: one gradient and two probes along it), stays there for
  ``adapt_after`` steps while the frames settle, then is multiplied each step by
  exp(``adapt_rate`` * clamp(h(end frame) - h(search_prob), -1, 1)): more identity while the end frame is
  past the level, less while it is short of it (with ``require_judges``, also less while a judge is not yet
  past even odds). The frames follow the falling or rising weight near equilibrium, so they settle on the
  closest points at their probabilities for the weight at which the end frame just makes the level: the
  weight a bisection would find, without its rounds. The T frames are then laid along the key frames at
  the scheduled probabilities (``monotone.lay_frames``, grid ``lay_grid``).
- ``search='bisection'`` (the original): a log-bisection of lambda in ``lam_range``, each round a short
  batched run of the end frame alone at each path's candidate, then all T-1 frames optimised jointly from
  the straight line to the found end frame. Paths whose final frames do not rise or do not cross are
  repaired (``monotone.fill_frames``) on the frames that do rise, plus the search's end frame. A given
  ``lam`` takes this route too (no search).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch

from inversion import LatentCode, LRSchedule, Objective, Rendered, latent_stats, optimize

from . import monotone
from .probe import OWNERS, Probe, log_odds_of, target_log_odds, with_owners
from .terms import Identity, ScheduleMatch, Smoothness

SEARCHES = ("adaptive", "bisection")


@dataclass
class RegularizedSettings:
    steps: int = 40  # joint optimisation steps of the whole trajectory (bisection / fixed lambda)
    lr: float = 0.05  # Adam step, in units of the per-coordinate code spread
    end_prob: float = 0.9  # probability of the target class the last frame is pulled to
    schedule: Union[str, Sequence[float]] = "linear"  # 'linear', 'logodds' or T fractions rising 0 -> 1
    scale: str = "logodds"  # compare frames to the schedule in 'logodds' or 'prob'
    identity: Dict[str, float] = field(default_factory=lambda: {"latent": 1.0, "pixel": 1.0})
    smoothness: float = 1.0  # mu: weight of squared latent steps between consecutive (key) frames
    lam: Optional[float] = None  # identity weight; None searches the largest that still crosses
    lam_range: Tuple[float, float] = (1e-2, 1e4)
    search_rounds: int = 5  # bisection rounds after the first run at lam_range[0]
    search_steps: int = 40  # optimisation steps per bisection round
    search_prob: Optional[float] = None  # an end frame "crosses" at this p_C (default end_prob - 0.1, >= 0.5)
    grid: int = 7  # points per segment when repairing frames
    search: str = "adaptive"  # 'adaptive' (cheap, default) or 'bisection' (the original search)
    key_frames: int = 2  # adaptive: inner key frames per path (besides the end frame)
    adaptive_steps: int = 50  # adaptive: optimisation steps of the key frames
    adapt_after: int = 15  # adaptive: steps at the starting weight before it adapts
    adapt_rate: float = 0.15  # adaptive: log of the largest weight change per step
    lam_boost: float = 4.0  # adaptive: the weight starts this factor above the estimate
    lay_grid: int = 3  # adaptive: points per segment when laying the frames along the key frames

    def check(self) -> "RegularizedSettings":
        if self.search not in SEARCHES:
            raise ValueError(f"unknown lambda search {self.search!r}: choose one of {', '.join(SEARCHES)}")
        for name in ("steps", "search_steps", "adaptive_steps", "lay_grid", "grid"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("key_frames", "adapt_after"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("adapt_rate", "lam_boost"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
        lo, hi = self.lam_range
        if not 0 < lo < hi:
            raise ValueError(f"lam_range must be (low, high) with 0 < low < high, got {self.lam_range}")
        return self


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


def part(code: LatentCode, items: Optional[torch.Tensor]) -> LatentCode:
    """Items ``items`` of a path code (its owners kept), or the code itself for ``None``."""
    if items is None:
        return code
    ctx = code.select(items.tolist())
    owners = code.meta[OWNERS]
    return LatentCode(code.space, code.values[items.to(code.values.device)], ctx.noise, ctx.c,
                      code.truncation_psi, {OWNERS: owners[items]})


def code_objective(probe: Probe, code: LatentCode, objective: Objective):
    """``optimize``'s step function for an objective over a path code: the whole code, or a chunk of it."""
    def step_objective(step: int, t: float, items: Optional[torch.Tensor] = None):
        view = part(code, items)
        return objective(Rendered(probe.render(view), None, view, items, code))
    return step_objective


def end_frames(probe: Probe, start: LatentCode, reference: torch.Tensor, lam: torch.Tensor,
               settings: RegularizedSettings, spread: float, paths: torch.Tensor, progress=None, memory=None):
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
    result = optimize(params, code_objective(probe, code, objective), settings.search_steps,
                      LRSchedule(settings.lr * spread, 0.0, 0.25), progress=progress, memory=memory)
    return code.values.detach(), cls.last_logits, result.interrupted


def search_lambda(probe: Probe, start: LatentCode, reference: torch.Tensor, settings: RegularizedSettings,
                  spread: float, progress=None, memory=None):
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
                                                 progress, memory)
        return lam, values, logits, _end_crossed(probe, logits, all_paths, settings), interrupted, 1
    lam = torch.full((n,), math.exp(lo_l))
    values, logits, interrupted = end_frames(probe, start, reference, lam, settings, spread, all_paths,
                                             progress, memory)
    ok = _end_crossed(probe, logits, all_paths, settings)
    lo, hi = torch.full((n,), lo_l), torch.full((n,), hi_l)
    rounds = 1
    for _ in range(settings.search_rounds):
        live = ok.nonzero().flatten()  # paths that cannot cross at the smallest lambda stop searching
        if interrupted or live.numel() == 0:
            break
        mid = (lo[live] + hi[live]) / 2
        v, lg, interrupted = end_frames(probe, start, reference, mid.exp(), settings, spread, live, progress,
                                        memory)
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
               progress=None, memory=None, fractions: Optional[torch.Tensor] = None, steps: Optional[int] = None,
               adapt: float = 0.0, adapt_goal: float = 0.8, adapt_after: int = 0, extras=None):
    """Jointly optimise frames 1..T-1 of every path: (values [N, T-1, ...], logits, interrupted, lambda [N]).

    ``targets`` [N, T] are the scheduled probabilities (frame 0 the start). Frames start on the straight line
    from the start code to ``end_values``, evenly or at ``fractions`` ([T-1], or [N, T-1] per path) of the
    way. ``adapt`` > 0 lets each path's identity weight adapt from step ``adapt_after`` on, multiplied each
    step by exp(adapt * clamp(h(end frame) - h(adapt_goal), -1, 1)); with judges required, a judge below even
    odds at the end frame counts as short of the goal. ``extras`` (``api.PathExtras``): the judges' term and
    the diversity term act on the end frames only.
    """
    n, frames = targets.shape
    inner = frames - 1
    device = end_values.device
    if fractions is None:
        fractions = torch.arange(1, frames, dtype=torch.float32) / inner
    frac = fractions.float().to(device).reshape(-1, inner, *[1] * (end_values.dim() - 1))
    base = start.values.detach().unsqueeze(1)
    init = base + (end_values.unsqueeze(1) - base) * frac  # frames start on the line to the end frame
    owners = torch.arange(n).repeat_interleave(inner)
    ctx = start.select(owners.tolist())
    code = LatentCode(start.space, init.reshape(n * inner, *end_values.shape[1:]).clone(), ctx.noise, ctx.c,
                      start.truncation_psi, {OWNERS: owners})
    params = code.parameters(noise=False)
    cls = ScheduleMatch(probe, targets[:, 1:].reshape(-1).to(device), settings.scale)
    ident = Identity(start.values[owners.to(device)], reference[owners.to(reference.device)],
                     _identity_weights(settings, spread), lam[owners].to(device))
    terms = [cls, ident]
    if settings.smoothness > 0:
        terms.append(Smoothness(start.values, inner, settings.smoothness / spread ** 2))
    is_end = torch.arange(n * inner) % inner == inner - 1
    judges = None
    if extras is not None:
        judges = extras.judges_for(torch.arange(n), item_mask=is_end)
        if judges is not None:
            terms.append(judges)
        diversity = extras.diversity_for(torch.arange(n), frames=inner)
        if diversity is not None:
            terms.append(diversity)
    objective = Objective(terms)
    total = settings.steps if steps is None else steps
    base_objective = code_objective(probe, code, objective)
    goal = float(log_odds_of(torch.tensor(adapt_goal)))
    seen = [-1]

    def step_objective(step: int, t: float, items: Optional[torch.Tensor] = None):
        if adapt > 0 and step != seen[0] and cls.last_logits is not None and adapt_after <= step < total:
            seen[0] = step  # one update per step, from the previous step's evaluation
            odds = probe.log_odds(cls.last_logits, owners).reshape(n, inner)[:, -1]
            over = odds - goal
            if judges is not None:
                for j, logits in enumerate(judges.last_logits):
                    end = logits.reshape(n, inner, -1)[:, -1]
                    jt = judges.targets[j].to(end.device)
                    over = torch.minimum(over, target_log_odds(end, jt).to(over.device))
            ident.scale = ident.scale * torch.exp(adapt * over.clamp(-1.0, 1.0)).repeat_interleave(inner)
        return base_objective(step, t, items)

    result = optimize(params, step_objective, total, LRSchedule(settings.lr * spread, 0.0, 0.25),
                      progress=progress, memory=memory)
    final_lam = ident.scale.reshape(n, inner)[:, -1].detach().cpu()
    return (code.values.detach().reshape(n, inner, *end_values.shape[1:]), cls.last_logits, result.interrupted,
            final_lam)


def key_slots(targets: torch.Tensor, count: int) -> List[int]:
    """``count`` inner frame slots to optimise (fewer only if there are fewer inner frames): the first slot
    scheduled at or past p = 0.5 (where a path usually crosses) and others spread evenly."""
    inner = list(range(1, targets.shape[0] - 1))
    count = min(count, len(inner))
    if count <= 0:
        return []
    crossing = next((t for t in inner if float(targets[t]) >= 0.5), None)
    picks = [] if crossing is None else [crossing]
    even = [inner[min(len(inner) - 1, int((j + 0.5) * len(inner) / count))] for j in range(count)]
    for t in sorted(even, key=lambda t: min([abs(t - u) for u in picks] or [0]), reverse=True):
        if len(picks) < count and t not in picks:
            picks.append(t)
    for t in inner:  # collisions: fill with the remaining slots
        if len(picks) < count and t not in picks:
            picks.append(t)
    return sorted(picks)


def adaptive_paths(probe: Probe, start: LatentCode, reference: torch.Tensor, frames: int,
                   settings: RegularizedSettings, progress: Optional[Callable] = None, extras=None):
    """Regularised paths with the adaptive weight (see the module docstring): (values [N, T, ...], info)."""
    from .api import PathExtras

    extras = extras if extras is not None else PathExtras()
    n = len(start)
    spread = latent_stats(probe.G, start.space).coord_std
    start = with_owners(start.detach(), torch.arange(n))
    device = start.values.device
    paths = torch.arange(n)
    t0 = time.perf_counter()
    _, start_logits = probe.evaluate(start)
    p_start = probe.target_prob(start_logits, paths).cpu()
    lo, hi = settings.lam_range
    ident = Identity(start.values, reference, _identity_weights(settings, spread), torch.ones(n))
    estimate = initial_lambda(probe, start, reference, ident, settings, extras.start_values)
    lam0 = (estimate * settings.lam_boost).clamp(lo, hi)
    p_end = torch.full((n,), float(settings.end_prob))
    targets = monotone.schedule_targets(p_start, torch.maximum(p_end, p_start), frames, settings.schedule)
    slots = [key_slots(targets[i], settings.key_frames) + [frames - 1] for i in range(n)]
    sub = torch.stack([torch.cat([targets[i, :1], targets[i, slots[i]]]) for i in range(n)])
    fractions = torch.tensor(slots, dtype=torch.float32) / (frames - 1)
    aim = start.values.detach() if extras.start_values is None else extras.start_values.to(device)
    level = settings.search_prob if settings.search_prob is not None else max(0.5, settings.end_prob - 0.1)
    t1 = time.perf_counter()
    keys, key_logits, interrupted, lam = trajectory(
        probe, start, reference, aim, lam0, sub, settings, spread, progress, extras.memory, fractions,
        settings.adaptive_steps, settings.adapt_rate, level, settings.adapt_after, extras)
    t2 = time.perf_counter()
    m = len(slots[0])
    key_probs = probe.target_prob(key_logits, paths.repeat_interleave(m)).cpu().reshape(n, m)
    anchors, anchor_probs = [], []
    for i in range(n):
        a = torch.cat([start.values[i:i + 1].detach(), keys[i]])
        p = [float(p_start[i])] + [float(v) for v in key_probs[i]]
        keep = monotone.keep_rising(p)
        anchors.append(a[keep])
        anchor_probs.append(torch.tensor([p[k] for k in keep]))
    values, _, searched = monotone.lay_frames(probe, start, anchors, anchor_probs, frames, settings.schedule,
                                              settings.lay_grid)
    t3 = time.perf_counter()
    end_ok = probe.past(key_logits.reshape(n, m, -1)[:, -1], paths, level).cpu()
    info = dict(timings={"estimate": t1 - t0, "key_frames": t2 - t1, "lay_frames": t3 - t2},
                interrupted=interrupted, lam=lam, lam_estimate=estimate.tolist(), lam_start=lam0.tolist(),
                key_slots=slots, key_probs=key_probs.tolist(), end_frame_crossed=end_ok.tolist(),
                resampled_slots=searched, repaired=torch.zeros(n, dtype=torch.bool),
                settings=dict(asdict(settings), lr_absolute=settings.lr * spread, code_spread=spread,
                              search_level=level))
    return values, info


def regularized_paths(probe: Probe, start: LatentCode, reference: torch.Tensor, frames: int,
                      settings: RegularizedSettings, progress: Optional[Callable] = None, extras=None):
    """Find lambda, optimise the frames, repair what does not rise: (values [N, T, ...], info). ``extras``:
    ``api.PathExtras`` (judges, diversity, restarts, memory bound)."""
    settings.check()
    if settings.search == "adaptive" and settings.lam is None:
        return adaptive_paths(probe, start, reference, frames, settings, progress, extras)
    if extras is not None and extras.needs_adaptive:
        raise ValueError("--require-judges and --paths-per-image need the adaptive search of regularised paths "
                         "(no --lambda, search='adaptive')")
    memory = None if extras is None else extras.memory
    n = len(start)
    spread = latent_stats(probe.G, start.space).coord_std
    start = with_owners(start.detach(), torch.arange(n))
    t0 = time.perf_counter()
    _, start_logits = probe.evaluate(start)
    paths = torch.arange(n)
    p_start = probe.target_prob(start_logits, paths).cpu()
    lam, end_values, end_logits, end_ok, interrupted, rounds = search_lambda(
        probe, start, reference, settings, spread, progress, memory)
    t1 = time.perf_counter()
    p_end = torch.full((n,), float(settings.end_prob))
    targets = monotone.schedule_targets(p_start, torch.maximum(p_end, p_start), frames, settings.schedule)
    values = inner_logits = None
    if not interrupted:
        values, inner_logits, interrupted, _ = trajectory(probe, start, reference, end_values, lam, targets,
                                                          settings, spread, progress, memory)
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
                settings=dict(asdict(settings), search="bisection" if settings.lam is None else "fixed",
                              lr_absolute=settings.lr * spread, code_spread=spread))
    return full, info


def initial_lambda(probe: Probe, start: LatentCode, reference: torch.Tensor, ident: Identity,
                   settings: RegularizedSettings, start_values: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per path, an estimate [N] of the identity weight at which the end frame just reaches ``end_prob``.

    Along the unit direction u of the target log-odds gradient g at the iterate's start z, the log-odds is
    h(z) + |g| d and the identity I(z) + a d + k d^2 (a, k from a central difference at d = +-e, two
    renders). Reaching end_prob needs d = dh / |g| (dh: the missing log-odds); the class term's slope |g|
    balances lambda's pull there when lambda = |g| / (a + 2 k d). Clamped to ``lam_range``.
    """
    n = len(start)
    paths = torch.arange(n)
    base = start.values if start_values is None else start_values
    values = base.detach().clone().requires_grad_(True)
    code = LatentCode(start.space, values, start.noise, start.c, start.truncation_psi, {OWNERS: paths})
    images = probe.render(code)
    logits = probe.logits(images, paths)
    h = probe.log_odds(logits, paths)
    (grad,) = torch.autograd.grad(h.sum(), values)
    with torch.no_grad():
        i0 = ident.unscaled(Rendered(images.detach(), None, code)).detach()
        gnorm = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
        u = grad / gnorm.reshape(-1, *[1] * (grad.dim() - 1))
        dh = (log_odds_of(torch.tensor(settings.end_prob)).to(h.device) - h.detach()).clamp_min(0.5)
        d = dh / gnorm
        e = (0.5 * d).reshape(-1, *[1] * (grad.dim() - 1))
        probes = []
        for sign in (1.0, -1.0):
            moved = LatentCode(start.space, values.detach() + sign * e * u, start.noise, start.c,
                               start.truncation_psi, {OWNERS: paths})
            probes.append(ident.unscaled(Rendered(probe.render(moved), None, moved)))
        e = e.flatten()
        a = (probes[0] - probes[1]) / (2 * e)
        k = ((probes[0] + probes[1] - 2 * i0) / (2 * e * e)).clamp_min(1e-12)
        lam = gnorm / (a + 2 * k * d).clamp_min(1e-12)
    lo, hi = settings.lam_range
    return lam.cpu().clamp(lo, hi)




def _frames_code(start: LatentCode, values: torch.Tensor) -> LatentCode:
    n, t = values.shape[:2]
    owners = torch.arange(n).repeat_interleave(t)
    ctx = start.select(owners.tolist())
    return LatentCode(start.space, values.reshape(n * t, *values.shape[2:]), ctx.noise, ctx.c,
                      start.truncation_psi, {OWNERS: owners})
