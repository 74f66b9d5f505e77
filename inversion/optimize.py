"""The one optimisation loop of cfgan.

Projection, pivotal tuning, decision-crossing paths and activation maximisation all minimise a
per-item objective over some tensors (latent codes, noise maps, a mask or a generator's weights).
They share this loop, so learning-rate schedules, per-item stopping, best-so-far tracking,
progress bars, clean interruption and the memory bound behave the same everywhere.

The objective returns one loss per batch item. Items never interact: Adam is elementwise and the
summed loss gives each item its own gradient, so a batch of 16 is 16 independent optimisations
run at the cost of a few.

Memory bound. A batch of 16 paths x 16 frames renders 256 images with gradients in one pass: fine at
32 px, far too much at 1024 px. Because the loss is a sum over items, its gradient is the sum of the
gradients of any partition of the items, so ``optimize`` can evaluate the batch in chunks (passes),
backpropagating each and letting the gradients accumulate in the parameters before one Adam step: the
same step as the unchunked run, to float rounding, with the memory of one chunk. See ``MemoryBound``.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch

#: ``(step, t in [0, 1]) -> (loss [N], unweighted terms)``: what the loop minimises (often an ``Objective``
#: of loss terms evaluated on a freshly rendered batch). Under a memory bound the loop calls
#: ``(step, t, items)`` instead, ``items`` a LongTensor of batch indices, and expects rows for those items only.
StepFunction = Callable[..., Tuple[torch.Tensor, Dict[str, torch.Tensor]]]


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


@dataclass(frozen=True)
class MemoryBound:
    """How much of a batch one forward/backward pass may hold.

    - ``max_items``: at most this many batch items (images rendered, for every cfgan method) per pass.
    - ``max_bytes``: a budget for what autograd keeps for the backward pass (the part of a pass's memory
      that grows with its size). The loop measures it on the first pass (one group of items, counting
      every tensor saved for backward except the model's own parameters) and sizes the remaining
      chunks from it. Transient buffers of a single layer come on top of the budget.

    Both may be given (the smaller chunk wins). ``None`` everywhere: one pass, as without a bound.
    """

    max_items: Optional[int] = None
    max_bytes: Optional[int] = None

    def __post_init__(self):
        for name in ("max_items", "max_bytes"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"memory bound {name} must be an integer >= 1 or None, got {value!r}")

    @property
    def bounded(self) -> bool:
        return self.max_items is not None or self.max_bytes is not None

    @classmethod
    def of(cls, value: Union[None, int, "MemoryBound"]) -> Optional["MemoryBound"]:
        """``None``, a ``MemoryBound``, or an int (``max_items``)."""
        if value is None or isinstance(value, MemoryBound):
            return value if value is None or value.bounded else None
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(max_items=value)
        raise TypeError(f"memory must be None, an int (images per pass) or a MemoryBound, got {value!r}")


@dataclass
class OptimizationResult:
    """What the loop leaves behind: per-item losses and terms, history, and whether it was cut short.

    ``passes``: forward/backward passes per step (1 without a memory bound); ``chunk_items``: the most
    items one pass held; ``saved_bytes_per_item``: what the byte budget was sized from (when given).
    """

    loss: torch.Tensor
    terms: Dict[str, torch.Tensor]
    steps_run: int
    history: List[dict] = field(default_factory=list)
    interrupted: bool = False
    done: Optional[torch.Tensor] = None
    passes: int = 1
    chunk_items: Optional[int] = None
    saved_bytes_per_item: Optional[float] = None


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
    memory: Union[None, int, MemoryBound] = None,
    groups: Union[None, int, torch.Tensor] = None,
    num_items: Optional[int] = None,
) -> OptimizationResult:
    """Minimise ``objective(step, t) -> (loss[N], terms)`` over ``params`` with Adam.

    - ``batched``: every param has the batch as its first dimension (latent codes, noise maps).
      Enables ``keep_best`` (restore each item's lowest-loss values at the end, except for stopped
      items, which keep the values they stopped at) and ``stop`` (a bool[N] of items that are
      finished; their values are frozen from then on).
    - ``project``: called after each step, e.g. to clip codes to a valid range.
    - ``progress(step, steps, info)``: called every step (the CLI hooks a progress bar here).
    - Ctrl-C ends the loop early and returns what was reached, flagged ``interrupted``.

    Memory bound (``memory``: a ``MemoryBound``, or an int meaning ``max_items``). The loop then calls
    ``objective(step, t, items)`` once per chunk, ``items`` a sorted LongTensor of batch indices, and the
    objective returns the loss and terms of those items only; each chunk is backpropagated at once and the
    gradients accumulate before the single Adam step. The rules that keep this equal to the unchunked run:

    - Each item's loss is computed in exactly one chunk per step, from the current parameters.
    - A loss term may read *any* item's parameters (latent values: a smoothness term coupling a frame to
      its neighbour, a diversity term on the end codes of several paths), since the parameters are whole
      in every pass and gradients reaching other items' rows simply add up.
    - A term that compares *rendered* outputs of several items (images or features of restarts of one
      target, say) needs them in one chunk: pass ``groups``, an int g (consecutive blocks of g items)
      or a tensor [N] of group ids; chunks hold whole groups only. A group larger than ``max_items`` is one
      pass of its own (the bound is exceeded rather than the result changed).
    - Per-item state a term keeps between calls (last logits, say) must be written by rows ``items``.
    - Randomness drawn inside the objective must not depend on the chunking (draw per item, or once per
      step for all items).
    - ``stop``, ``keep_best``, the history and the returned losses all see the assembled [N] values, so
      per-item stopping and best-so-far tracking are unchanged; the closing no-gradient evaluation is
      chunked too.

    ``num_items``: the batch size N when ``batched=False`` (the parameters are then shared, e.g. a
    generator's weights, and do not say it).
    """
    params = list(params)
    schedule = lr if isinstance(lr, LRSchedule) else LRSchedule(lr, 0.0, 0.0)
    opt = torch.optim.Adam(params, lr=schedule(0.0), betas=betas)
    if not batched and (keep_best or stop is not None):
        raise ValueError("keep_best and stop need batched parameters (batch first)")
    bound = MemoryBound.of(memory)
    plan = None
    if bound is not None:
        n = params[0].shape[0] if batched else num_items
        if n is None:
            raise ValueError("a memory bound with batched=False needs num_items (the batch size)")
        _check_chunkable(objective)
        plan = _ChunkPlan(int(n), bound, groups)
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
            opt.zero_grad(set_to_none=True)
            if plan is None:
                loss, terms = objective(step, t)
            else:  # every chunk is backpropagated as it is evaluated
                loss, terms = plan.evaluate(objective, step, t, backward=True)
            loss_d = loss.detach()
            if keep_best:
                best_loss, best_values = _track_best(params, loss_d, best_loss, best_values)
            if stop is not None:
                now_done = stop(loss_d, {k: v.detach() for k, v in terms.items()}).to(loss_d.device)
                done = now_done if done is None else (done | now_done)
                if bool(done.all()):
                    break
            frozen = None if done is None else [p.detach()[done].clone() for p in params]
            if plan is None:
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
    opt.zero_grad(set_to_none=True)  # no gradient buffers left on the caller's tensors

    def final():
        return objective(steps, 1.0) if plan is None else plan.evaluate(objective, steps, 1.0, backward=False)

    # final evaluation so the returned losses describe the returned parameters
    with torch.no_grad():
        final_loss, final_terms = final()
        if keep_best and best_loss is not None:
            better = final_loss.detach() <= best_loss
            if done is not None:  # a stopped item reached its goal: its frozen values are the answer
                better = better | done.to(better.device)
            for p, b in zip(params, best_values):
                p[~better] = b[~better]
            if not bool(better.all()):
                final_loss, final_terms = final()
    info = {} if plan is None else dict(passes=len(plan.chunks or [0]), chunk_items=plan.largest,
                                        saved_bytes_per_item=plan.bytes_per_item)
    return OptimizationResult(final_loss.detach(), {k: v.detach() for k, v in final_terms.items()},
                              step, history, interrupted, done, **info)


def _check_chunkable(objective) -> None:
    try:
        inspect.signature(objective).bind(0, 0.0, None)
    except TypeError:
        raise TypeError("a memory bound evaluates the batch in chunks and calls objective(step, t, items); this "
                        "objective takes (step, t) only") from None
    except ValueError:  # builtins without a signature: trust the caller
        pass


class _ChunkPlan:
    """Splits N items into passes of whole groups within the bound, and assembles their outputs."""

    def __init__(self, n: int, bound: MemoryBound, groups):
        self.n, self.bound = n, bound
        if groups is None:
            groups = 1
        if isinstance(groups, int):
            if groups < 1:
                raise ValueError(f"groups must be >= 1 items, got {groups}")
            ids = torch.arange(n) // groups
        else:
            ids = torch.as_tensor(groups).reshape(-1).cpu()
            if ids.numel() != n:
                raise ValueError(f"groups has {ids.numel()} ids for a batch of {n} items")
        order: Dict[int, List[int]] = {}
        for i, g in enumerate(ids.tolist()):
            order.setdefault(g, []).append(i)
        self.groups = [torch.tensor(v, dtype=torch.long) for v in order.values()]
        self.chunks: Optional[List[torch.Tensor]] = None
        self.bytes_per_item: Optional[float] = None
        self.largest: Optional[int] = None
        if bound.max_bytes is None:
            self._pack(bound.max_items)

    def _pack(self, limit: Optional[int], groups: Optional[List[torch.Tensor]] = None) -> List[torch.Tensor]:
        """Whole groups, in order, packed into chunks of at most ``limit`` items (sets the plan when
        ``groups`` is None)."""
        chunks, current, size = [], [], 0
        for g in self.groups if groups is None else groups:
            if current and limit is not None and size + len(g) > limit:
                chunks.append(torch.cat(current).sort().values)
                current, size = [], 0
            current.append(g)
            size += len(g)
        if current:
            chunks.append(torch.cat(current).sort().values)
        if groups is None:
            self.chunks = chunks
            self.largest = max(len(c) for c in chunks)
        return chunks

    def evaluate(self, objective, step: int, t: float, backward: bool):
        losses, terms_out = None, {}
        if self.chunks is None:  # size the chunks from what one group keeps for backward
            first = self.groups[0]
            if backward:
                with _SavedBytes() as counter:
                    out = self._run(objective, step, t, first, backward)
                self.bytes_per_item = max(counter.bytes, 1) / len(first)
                limit = max(1, int(self.bound.max_bytes // self.bytes_per_item))
                if self.bound.max_items is not None:
                    limit = min(limit, self.bound.max_items)
                self._pack(limit)  # the plan for every later pass
                losses, terms_out = self._store(first, out, losses, terms_out)
                chunks = self._pack(limit, self.groups[1:])  # this step: the rest
            else:  # never sized (no step ran): one group per pass
                chunks = self._pack(1)
        else:
            chunks = self.chunks
        for items in chunks:
            losses, terms_out = self._store(items, self._run(objective, step, t, items, backward), losses,
                                            terms_out)
        return losses, terms_out

    @staticmethod
    def _run(objective, step, t, items, backward):
        loss, terms = objective(step, t, items)
        if loss.shape[0] != len(items):
            raise ValueError(f"the objective returned {loss.shape[0]} losses for a chunk of {len(items)} items")
        if backward:
            loss.sum().backward()
        return loss.detach(), {k: v.detach() for k, v in terms.items()}

    def _store(self, items, out, losses, terms_out):
        loss, terms = out
        if losses is None:
            losses = loss.new_zeros((self.n,) + tuple(loss.shape[1:]))
        idx = items.to(loss.device)
        losses[idx] = loss
        for k, v in terms.items():
            if k not in terms_out:
                terms_out[k] = v.new_zeros((self.n,) + tuple(v.shape[1:]))
            terms_out[k][items.to(v.device)] = v
        return losses, terms_out


class _SavedBytes:
    """Counts the bytes of tensors autograd saves for backward (each storage once, parameters excluded)."""

    def __init__(self):
        self.bytes, self._seen = 0, set()
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda x: x)

    def _pack(self, x):
        if not isinstance(x, torch.nn.Parameter):
            try:
                storage = x.untyped_storage()
                key = (storage.data_ptr(), storage.nbytes())
            except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. sparse)
                key = None
            if key is None:
                self.bytes += x.numel() * x.element_size()
            elif key not in self._seen:
                self._seen.add(key)
                self.bytes += key[1]
        return x

    def __enter__(self):
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)


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
