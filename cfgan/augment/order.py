"""In which order boundary samples are handed to a person, and which fit a budget.

``prefer='boundary'`` (default): closest to p = 0.5 first. ``prefer='blind-spot'``: frames of paths the
judges called ``blind-spot`` first (a change only this classifier reads as the target: the samples most
worth a label), then ``mixed``, then ``genuine``, then paths without a label; within a group closest to
p = 0.5 first. Ties are broken by sample id, so the order is total and the same in every run.
``max_samples`` keeps the first N of that order: with ``blind-spot`` the budget goes to blind spots first.
"""
from __future__ import annotations

from typing import Iterable, List, Optional

PREFER = ("boundary", "blind-spot")
_LABEL_RANK = {"blind-spot": 0, "mixed": 1, "genuine": 2}


def order_key(sample: dict, prefer: str = "boundary") -> tuple:
    closeness = abs(float(sample["p_target"]) - 0.5)
    if prefer == "blind-spot":
        return (_LABEL_RANK.get(sample.get("judge_label"), 3), closeness, sample["id"])
    return (closeness, sample["id"])


def select(samples: Iterable[dict], prefer: str = "boundary", max_samples: Optional[int] = None) -> List[dict]:
    """``samples`` in hand-out order, cut to ``max_samples`` (all when None)."""
    if prefer not in PREFER:
        raise ValueError(f"prefer must be one of {', '.join(PREFER)}, got {prefer!r}")
    ordered = sorted(samples, key=lambda s: order_key(s, prefer))
    return ordered if max_samples is None else ordered[:max_samples]
