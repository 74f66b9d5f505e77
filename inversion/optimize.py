"""The one optimisation loop of cfgan.

Projection, pivotal tuning, decision-crossing paths and activation maximisation all minimise a
per-item objective over some tensors (latent codes, noise maps, a mask or a generator's weights).
They share this loop, so learning-rate schedules, per-item stopping, best-so-far tracking,
progress bars and clean interruption behave the same everywhere.

The objective returns one loss per batch item. Items never interact: Adam is elementwise and the
summed loss gives each item its own gradient, so a batch of 16 is 16 independent optimisations
run at the cost of a few.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

#: ``(step, t in [0, 1]) -> (loss [N], unweighted terms)``: what the loop minimises (often an ``Objective``
#: of loss terms evaluated on a freshly rendered batch)
StepFunction = Callable[[int, float], Tuple[torch.Tensor, Dict[str, torch.Tensor]]]


@dataclass
class LRSchedule:
    """Cosine ramp-down over the last ``rampdown`` fraction, linear ramp-up over the first ``rampup``."""

    lr: float = 0.1
    rampup: float = 0.05
    rampdown: float = 0.25

    def __call__(self, t: float) -> float:
        scale = 1.0
        if self.rampdown > 0:
            down = min(1.0, (1.0 - t) / self.rampdown)
            scale = 0.5 - 0.5 * math.cos(down * math.pi)
        if self.rampup > 0:
            scale *= min(1.0, t / self.rampup)
        return self.lr * max(scale, 1e-3)


@dataclass
class OptimizationResult:
    """What the loop leaves behind: per-item losses and terms, history, and whether it was cut short."""

    loss: torch.Tensor
    terms: Dict[str, torch.Tensor]
    steps_run: int
    history: List[dict] = field(default_factory=list)
    interrupted: bool = False
    done: Optional[torch.Tensor] = None


def optimize(
    params: Sequence[torch.Tensor],
    objective: StepFunction,
    steps: int,
    lr: float | LRSchedule = 0.1,
    betas: Tuple[float, float] = (0.9, 0.999),
    batched: bool = True,
    keep_best: bool = False,
    stop: Optional[Callable[[torch.Tensor, Dict[str, torch.Tensor]], torch.Tensor]] = None,
    project: Optional[Callable[[], None]] = None,
    log_every: int = 0,
    progress: Optional[Callable[[int, int, dict], None]] = None,
) -> OptimizationResult:
    """Minimise ``objective(step, t) -> (loss[N], terms)`` over ``params`` with Adam.

    - ``batched``: every param has the batch as its first dimension (latent codes, noise maps).
      Enables ``keep_best`` (restore each item's lowest-loss values at the end, except for stopped
      items, which keep the values they stopped at) and ``stop`` (a bool[N] of items that are
      finished; their values are frozen from then on).
    - ``project``: called after each step, e.g. to clip codes to a valid range.
    - ``progress(step, steps, info)``: called every step (the CLI hooks a progress bar here).
    - Ctrl-C ends the loop early and returns what was reached, flagged ``interrupted``.
    """
    params = list(params)
    schedule = lr if isinstance(lr, LRSchedule) else LRSchedule(lr, 0.0, 0.0)
    opt = torch.optim.Adam(params, lr=schedule(0.0), betas=betas)
    if not batched and (keep_best or stop is not None):
        raise ValueError("keep_best and stop need batched parameters (batch first)")
    best_loss = best_values = None
    done = None
    history: List[dict] = []
    loss = torch.zeros(0)
    terms: Dict[str, torch.Tensor] = {}
    step = 0
    interrupted = False
    try:
        for step in range(steps):
            t = step / max(steps - 1, 1)
            for group in opt.param_groups:
                group["lr"] = schedule(t)
            loss, terms = objective(step, t)
            loss_d = loss.detach()
            if keep_best:
                best_loss, best_values = _track_best(params, loss_d, best_loss, best_values)
            if stop is not None:
                now_done = stop(loss_d, {k: v.detach() for k, v in terms.items()}).to(loss_d.device)
                done = now_done if done is None else (done | now_done)
                if bool(done.all()):
                    break
            frozen = None if done is None else [p.detach()[done].clone() for p in params]
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            with torch.no_grad():
                if frozen is not None:
                    for p, f in zip(params, frozen):
                        p[done] = f
                if project is not None:
                    project()
            if log_every and (step % log_every == 0 or step == steps - 1):
                history.append(_log_row(step, schedule(t), loss_d, terms))
            if progress is not None:
                progress(step + 1, steps, {"loss": float(loss_d.mean())})
        step += 1
    except KeyboardInterrupt:
        interrupted = True
    # final evaluation so the returned losses describe the returned parameters
    with torch.no_grad():
        final_loss, final_terms = objective(steps, 1.0)
        if keep_best and best_loss is not None:
            better = final_loss.detach() <= best_loss
            if done is not None:  # a stopped item reached its goal: its frozen values are the answer
                better = better | done.to(better.device)
            for p, b in zip(params, best_values):
                p[~better] = b[~better]
            if not bool(better.all()):
                final_loss, final_terms = objective(steps, 1.0)
    return OptimizationResult(final_loss.detach(), {k: v.detach() for k, v in final_terms.items()},
                              step, history, interrupted, done)


def _track_best(params, loss, best_loss, best_values):
    if best_loss is None:
        return loss.clone(), [p.detach().clone() for p in params]
    better = loss < best_loss
    if bool(better.any()):
        best_loss = torch.where(better, loss, best_loss)
        for p, b in zip(params, best_values):
            b[better] = p.detach()[better]
    return best_loss, best_values


def _log_row(step: int, lr: float, loss: torch.Tensor, terms: Dict[str, torch.Tensor]) -> dict:
    row = {"step": step, "lr": lr, "loss": float(loss.mean())}
    for name, value in terms.items():
        row[name] = float(value.detach().float().mean())
    return row
