"""Scale a run out over processes and nodes with torch.distributed (launched by ``torchrun``).

Each rank takes every ``world``-th item (by stream index; every ``world``-th block of a job with
``fixed_blocks``), writes its items into the shared run folder and
its own ledger ``items.rank<R>.jsonl``; rank 0 prepares the folder first and merges the ledgers at the end.
Only small Python objects are exchanged (barriers, flags), over gloo on CPU and nccl on GPUs. A crashed
rank loses only its unfinished items: the same command resumes them, with any number of processes.
"""
from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any, List


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def owns(self, index: int) -> bool:
        return index % self.world == self.rank


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def current() -> Ranks:
    """This process's place in a ``torchrun`` launch (rank 0 of 1 otherwise); joins the group once."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        use_nccl = torch.cuda.is_available() and os.environ.get("CFGAN_DIST_BACKEND", "") != "gloo"
        if use_nccl:
            torch.cuda.set_device(local_rank())
        dist.init_process_group("nccl" if use_nccl else "gloo")
        atexit.register(_leave)
    return Ranks(dist.get_rank(), dist.get_world_size())


def _leave() -> None:
    """Close the process group before the interpreter tears down: left to the C++ destructors at exit,
    gloo's worker threads can abort the process ("terminate called without an active exception"), which
    turns a finished run into a failed ``torchrun``."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def broadcast(ranks: Ranks, value: Any) -> Any:
    """Rank 0's ``value`` on every rank (a picklable Python object)."""
    if ranks.world == 1:
        return value
    import torch.distributed as dist

    box: List[Any] = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ranks: Ranks) -> None:
    """Wait until every rank is here. A run ends with one, so no rank leaves (closing its connections) while
    another still reads the last message: a peer that closes with data unread resets the connection."""
    if ranks.world == 1:
        return
    import torch.distributed as dist

    dist.barrier()


def any_rank(ranks: Ranks, flag: bool) -> bool:
    """True on every rank if ``flag`` is true on any (e.g. "was interrupted"); also a barrier."""
    if ranks.world == 1:
        return flag
    import torch.distributed as dist

    flags: List[Any] = [None] * ranks.world
    dist.all_gather_object(flags, bool(flag))
    return any(flags)
