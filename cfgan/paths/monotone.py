"""Monotonicity: check it, repair it, flag what cannot be repaired.

A path is reported monotone only when the target probabilities of its *final* frames, evaluated by the
classifier in one pass, never decrease (``check``). Repair works on anchors, frames known to rise:
``keep_rising`` picks the longest non-decreasing run of frames from the start to the highest frame, and
``fill_frames`` lays T frames on the polyline through the anchors (in latent space), each slot taking an
anchor near its scheduled probability or a point found on the segment between its neighbours. Every chosen
frame lies between its predecessor's probability and the next anchor's, so the result rises by
construction; the final check still decides what is reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import torch

from inversion import LatentCode

from .probe import OWNERS, Probe, with_owners


def check(probs: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """bool[N]: whether each row of ``probs`` [N, T] ([T] gives a 0-d result) never decreases by > -margin.

    ``margin=0`` is exact: any decrease, however small, makes a path non-monotone.
    """
    probs = torch.as_tensor(probs, dtype=torch.float64)
    if probs.shape[-1] < 2:
        return torch.ones(probs.shape[:-1], dtype=torch.bool)
    return ((probs[..., 1:] - probs[..., :-1]) >= -margin).all(-1)


def violations(probs: Sequence[float]) -> List[int]:
    """Frame indices t whose probability is lower than frame t-1's."""
    p = [float(v) for v in probs]
    return [t for t in range(1, len(p)) if p[t] < p[t - 1]]


def keep_rising(probs: Sequence[float]) -> List[int]:
    """Longest non-decreasing subsequence that starts at frame 0 and ends at the last highest frame.

    Frames below the start or above the end, and frames that break the order, are dropped; frame 0 (the
    subject itself) is always kept.
    """
    p = [float(v) for v in probs]
    end = max(range(len(p)), key=lambda t: (p[t], t))
    if p[end] < p[0]:
        return [0]
    best_len = [0] * (end + 1)
    parent = [-1] * (end + 1)
    best_len[0] = 1
    for t in range(1, end + 1):
        if p[t] < p[0] or p[t] > p[end]:
            continue
        for s in range(t):
            if best_len[s] and p[s] <= p[t] and best_len[s] + 1 > best_len[t]:
                best_len[t], parent[t] = best_len[s] + 1, s
    keep, t = [], end
    while t != -1:
        keep.append(t)
        t = parent[t]
    return keep[::-1]


def schedule_targets(p_start: torch.Tensor, p_end: torch.Tensor, frames: int,
                     schedule="linear") -> torch.Tensor:
    """Target probabilities [N, T] from each path's start to its end probability.

    ``schedule``: 'linear' (evenly spaced in probability), 'logodds' (evenly spaced in log-odds), or a
    sequence of T fractions in [0, 1] rising from 0 to 1 (applied in probability).
    """
    n = p_start.shape[0]
    if isinstance(schedule, str):
        frac = torch.linspace(0, 1, frames, dtype=torch.float64)
        if schedule == "linear":
            out = p_start[:, None].double() + (p_end - p_start)[:, None].double() * frac
        elif schedule == "logodds":
            lo, hi = (torch.logit(p.double().clamp(1e-6, 1 - 1e-6)) for p in (p_start, p_end))
            out = torch.sigmoid(lo[:, None] + (hi - lo)[:, None] * frac)
        else:
            raise ValueError(f"unknown schedule {schedule!r}: use 'linear', 'logodds' or T fractions")
        return out.float().reshape(n, frames)
    frac = torch.as_tensor([float(v) for v in schedule], dtype=torch.float64)
    if frac.numel() != frames:
        raise ValueError(f"the schedule has {frac.numel()} values for {frames} frames")
    if (frac[1:] < frac[:-1]).any() or float(frac[0]) != 0 or float(frac[-1]) != 1:
        raise ValueError("a schedule must rise from 0 to 1: non-decreasing fractions, the first 0 (the start "
                         "frame) and the last 1 (the end frame)")
    return (p_start[:, None].double() + (p_end - p_start)[:, None].double() * frac).float()


def _code_batch(context: LatentCode, rows: List[int], values: torch.Tensor) -> LatentCode:
    """Codes ``values`` with the noise/class vectors of ``context`` rows, charged to those rows' paths."""
    ctx = context.select(rows)
    rows_t = torch.tensor(rows, dtype=torch.long)
    owners = context.meta.get(OWNERS)
    return LatentCode(context.space, values, ctx.noise, ctx.c, ctx.truncation_psi,
                      {OWNERS: rows_t if owners is None else owners[rows_t]})


def check_schedule(schedule, frames: int):
    """Raise ValueError (saying what is wrong) unless ``schedule`` is valid for ``frames`` frames."""
    schedule_targets(torch.zeros(1), torch.ones(1), frames, schedule)
    return schedule


def lay_frames(probe: Probe, context: LatentCode, anchors: List[torch.Tensor], anchor_probs: List[torch.Tensor],
               frames: int, schedule="linear", grid: int = 7) -> Tuple[torch.Tensor, torch.Tensor, List[int]]:
    """``frames`` frames per path along its anchors, from its first to its last anchor's probability as
    ``schedule`` spaces them (``fill_frames``, searched in log-odds for a log-odds schedule)."""
    p_first = torch.tensor([float(p[0]) for p in anchor_probs])
    p_last = torch.tensor([float(p[-1]) for p in anchor_probs])
    targets = schedule_targets(p_first, p_last, frames, schedule)
    return fill_frames(probe, context, anchors, anchor_probs, targets, grid=grid, logodds=schedule == "logodds")


def _slot_tolerance(targets: torch.Tensor, i: int, t: int) -> float:
    """How far frame t may sit from its target: a quarter of the gap to its nearer scheduled neighbour."""
    row = targets[i]
    gaps = [float(row[t] - row[t - 1])] + ([float(row[t + 1] - row[t])] if t + 1 < row.numel() else [])
    return max(0.25 * min(gaps), 1e-3)


def fill_frames(probe: Probe, context: LatentCode, anchors: List[torch.Tensor],
                anchor_probs: List[torch.Tensor], targets: torch.Tensor, grid: int = 7,
                tol: Optional[float] = None, rounds: int = 3, logodds: bool = False
                ) -> Tuple[torch.Tensor, torch.Tensor, List[int]]:
    """T frames per path on the polyline through its anchors, as close as possible to ``targets`` [N, T].

    ``anchors[i]``: values [M_i, ...] with non-decreasing ``anchor_probs[i]`` [M_i]; ``context`` holds
    each path's noise and class vectors. Frame 0 is the first anchor, frame T-1 the last. A slot whose
    target no anchor meets within ``tol`` (default: a quarter of the gap to the nearer scheduled
    neighbour) is searched on a grid of ``grid`` points between its predecessor and the next anchor, then
    on finer grids inside the bracket around the target, up to ``rounds`` passes (each one batched
    classifier pass for all slots still searching). With ``logodds`` the distances and tolerances are
    measured in log-odds (for schedules spaced in log-odds, whose tails differ by tiny probabilities).
    Returns (values [N, T, ...], probs [N, T] as measured during the search, searched slots per path).
    """
    scale = _logit if logodds else _identity
    targets = scale(targets)
    anchor_probs = [scale(torch.as_tensor(p)) for p in anchor_probs]
    n, frames = targets.shape
    out_values = [[None] * frames for _ in range(n)]
    out_probs = torch.zeros(n, frames)
    searched = [0] * n
    # state per path: position along the polyline (anchor index + fraction), its values and probability
    pos = [0.0] * n
    cur_v = [a[0] for a in anchors]
    cur_p = [float(p[0]) for p in anchor_probs]
    for i in range(n):
        out_values[i][0], out_probs[i, 0] = cur_v[i], cur_p[i]
    for t in range(1, frames):
        jobs = []
        for i in range(n):
            a_probs, m = anchor_probs[i], len(anchor_probs[i])
            last = m - 1
            if t == frames - 1 or pos[i] >= last:  # the end frame (or the end was reached early)
                cur_v[i], cur_p[i], pos[i] = anchors[i][last], float(a_probs[last]), float(last)
                out_values[i][t], out_probs[i, t] = cur_v[i], cur_p[i]
                continue
            tolerance = tol if tol is not None else _slot_tolerance(targets, i, t)
            q = min(max(float(targets[i, t]), cur_p[i]), float(a_probs[last]))
            first = int(pos[i]) + 1  # next anchor strictly after the current position
            b = next((k for k in range(first, m) if float(a_probs[k]) >= q), last)
            a = b - 1
            if a >= first and q - float(a_probs[a]) <= tolerance and float(a_probs[a]) >= cur_p[i]:
                cur_v[i], cur_p[i], pos[i] = anchors[i][a], float(a_probs[a]), float(a)
            elif float(a_probs[b]) - q <= tolerance:
                cur_v[i], cur_p[i], pos[i] = anchors[i][b], float(a_probs[b]), float(b)
            else:
                on_segment = pos[i] > a  # already on segment (a, b): search from here
                lo_v, lo_pos = (cur_v[i], pos[i]) if on_segment else (anchors[i][a], float(a))
                jobs.append(_Slot(i, q, tolerance, lo_v, lo_pos, cur_p[i], anchors[i][b], float(b),
                                  float(a_probs[b])))
                continue
            out_values[i][t], out_probs[i, t] = cur_v[i], cur_p[i]
        for job in _search(probe, context, jobs, grid, rounds, scale):
            i = job.path
            searched[i] += 1
            cur_v[i], cur_p[i] = job.best_v, job.best_p
            pos[i] = job.best_pos if job.best_pos < job.b else float(job.b)  # on the segment, or at anchor b
            out_values[i][t], out_probs[i, t] = cur_v[i], cur_p[i]
    stacked = torch.stack([torch.stack(row) for row in out_values])
    return stacked, (torch.sigmoid(out_probs) if logodds else out_probs), searched


def _logit(p: torch.Tensor) -> torch.Tensor:
    return torch.logit(p.double().clamp(1e-12, 1 - 1e-12))


def _identity(p: torch.Tensor) -> torch.Tensor:
    return p


@dataclass
class _Slot:
    """One frame being searched on the segment from (lo) towards anchor b; the bracket shrinks per round.
    Probabilities are in the schedule's scale (probability, or log-odds)."""

    path: int
    q: float  # target
    tol: float
    lo_v: torch.Tensor
    lo_pos: float
    floor_p: float  # the previous frame's: a frame may not fall below it
    hi_v: torch.Tensor
    hi_pos: float
    b_p: float  # anchor b's: a frame may not rise above it
    b: float = field(init=False)  # anchor b's position (hi_pos moves as the bracket shrinks)
    best_v: torch.Tensor = field(init=False)
    best_p: float = field(init=False)
    best_pos: float = field(init=False)

    def __post_init__(self):
        self.b = self.hi_pos
        self.best_v, self.best_p, self.best_pos = self.hi_v, self.b_p, self.hi_pos  # fallback: the anchor


def _search(probe: Probe, context: LatentCode, jobs: List[_Slot], grid: int, rounds: int,
            scale: Callable[[torch.Tensor], torch.Tensor]) -> List[_Slot]:
    """Grid search of every slot, refined inside the bracket of the target until within tolerance."""
    pending = list(jobs)
    for _ in range(max(rounds, 1)):
        if not pending:
            break
        device = pending[0].lo_v.device
        alphas = torch.linspace(0, 1, grid + 2, device=device)[1:-1]
        values, owners = [], []
        for job in pending:
            step = (job.hi_v - job.lo_v).unsqueeze(0) * alphas.reshape(-1, *[1] * job.lo_v.dim())
            values.append(job.lo_v.unsqueeze(0) + step)
            owners += [job.path] * grid
        batch = _code_batch(context, owners, torch.cat(values))
        _, logits = probe.evaluate(batch)
        probs = scale(probe.target_prob(logits, batch.meta[OWNERS]).reshape(len(pending), grid).cpu())
        still = []
        for j, job in enumerate(pending):
            points = [float(probs[j, k]) for k in range(grid)]
            poss = [job.lo_pos + float(alphas[k]) * (job.hi_pos - job.lo_pos) for k in range(grid)]
            for k, pk in enumerate(points):
                if job.floor_p <= pk <= job.b_p and abs(pk - job.q) < abs(job.best_p - job.q):
                    job.best_v, job.best_p, job.best_pos = values[j][k], pk, poss[k]
            if abs(job.best_p - job.q) <= job.tol:
                continue
            # narrow to the first grid cell whose right end reaches the target
            k = next((k for k, pk in enumerate(points) if pk >= job.q), grid)
            if k > 0:
                job.lo_v, job.lo_pos = values[j][k - 1], poss[k - 1]
            if k < grid:
                job.hi_v, job.hi_pos = values[j][k], poss[k]
            still.append(job)
        pending = still
    return jobs


def repair(probe: Probe, start: LatentCode, values: torch.Tensor, probs: torch.Tensor, which: torch.Tensor,
           extra_ends: Optional[List[Optional[Tuple[torch.Tensor, float]]]] = None, grid: int = 7,
           schedule="linear"):
    """Re-lay the frames of paths ``which`` through their frames that rise (``keep_rising``).

    ``values`` [N, T, ...] and ``probs`` [N, T] are the paths as evaluated; ``extra_ends[i]``, when given,
    is a (values, probability) end frame known to go further (appended if higher than the kept end).
    Frames are laid by ``schedule`` between the kept start and end. Returns (values, repaired [N]).
    """
    idx = which.nonzero().flatten().tolist()
    repaired = torch.zeros(values.shape[0], dtype=torch.bool)
    if not idx:
        return values, repaired
    anchors, anchor_probs = [], []
    for i in idx:
        keep = keep_rising(probs[i])
        a_vals, a_probs = [values[i, k] for k in keep], [float(probs[i, k]) for k in keep]
        extra = extra_ends[i] if extra_ends is not None else None
        if extra is not None and extra[1] > a_probs[-1]:
            a_vals.append(extra[0].to(values.device))
            a_probs.append(float(extra[1]))
        anchors.append(torch.stack(a_vals))
        anchor_probs.append(torch.tensor(a_probs))
    owners = start.meta.get(OWNERS)
    sub = with_owners(start.select(idx), owners[idx] if owners is not None else torch.tensor(idx))
    new_values, _, _ = lay_frames(probe, sub, anchors, anchor_probs, values.shape[1], schedule, grid)
    values = values.clone()
    values[torch.tensor(idx, device=values.device)] = new_values.to(values.device)
    repaired[idx] = True
    return values, repaired
