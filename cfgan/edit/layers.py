"""Which W+ rows an edit touches: named ranges (coarse / middle / fine / all) and explicit ones (``0-5``).

In a StyleGAN2 with ``num_ws = 2 log2(resolution) - 2`` row ``i`` styles the layers at resolution
``4 * 2**ceil(i / 2)`` (the last row only feeds the final toRGB). The named ranges split the generator's
resolution levels (4, 8, ..., resolution) into thirds, coarse first: for a 1024 generator coarse is 4-16,
middle 32-128 and fine 256-1024; for the bundled 32x32 one coarse is rows 0-2 (4-8), middle rows 3-4 (16)
and fine rows 5-7 (32). (The StyleGAN paper's fixed split, 4-8 / 16-32 / 64+, leaves nothing "fine" below
64x64.) Generators laid out differently split their rows into thirds.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

NAMES = ("coarse", "middle", "fine", "all")


def row_levels(G) -> Optional[List[int]]:
    """Resolution level (0 = 4x4) each W+ row styles, or None when the layout is not StyleGAN2's."""
    res = getattr(G, "resolution", None)
    if not res or res < 4 or 2 ** int(round(math.log2(res))) != res:
        return None
    levels = int(round(math.log2(res))) - 1
    if G.num_ws != 2 * levels:
        return None
    return [min((i + 1) // 2, levels - 1) for i in range(G.num_ws)]


def layer_ranges(G) -> Dict[str, List[int]]:
    """The named row ranges of ``G``: {'coarse', 'middle', 'fine', 'all'} -> sorted row indices."""
    n = G.num_ws
    levels = row_levels(G)
    ranges: Dict[str, List[int]] = {}
    if levels is None or max(levels) < 2:
        groups = np.array_split(np.arange(n), 3)
        for name, rows in zip(NAMES, groups):
            ranges[name] = rows.tolist()
    else:
        groups = np.array_split(np.arange(max(levels) + 1), 3)
        for name, group in zip(NAMES, groups):
            ranges[name] = [i for i, lv in enumerate(levels) if lv in set(group.tolist())]
    ranges["all"] = list(range(n))
    return ranges


def parse_layers(text: Union[None, str, int, Sequence[int]], G) -> List[int]:
    """Rows from ``None``/'all', a name (coarse, middle, fine), ``'0-5'``, ``'3'``, ``'0-2,6'`` or a list of ints.

    Rows are 0-based and ranges inclusive. Out-of-range rows and malformed text raise ``ValueError``
    naming the generator's ``num_ws`` and the accepted forms.
    """
    n = G.num_ws
    named = layer_ranges(G)
    hint = (f"use coarse, middle, fine, all, or rows like 0-5 or 0-2,6 (this generator has num_ws={n}: "
            f"rows 0-{n - 1}; coarse={_span(named['coarse'])}, middle={_span(named['middle'])}, "
            f"fine={_span(named['fine'])})")
    if text is None:
        return named["all"]
    if isinstance(text, int):
        text = [text]
    if not isinstance(text, str):
        rows = [int(r) for r in text]
    else:
        key = text.strip().lower()
        if key in named:
            if not named[key]:
                raise ValueError(f"layer range {key!r} is empty for this generator; {hint}")
            return named[key]
        rows = []
        try:
            for part in key.split(","):
                part = part.strip()
                if not part:
                    raise ValueError
                if "-" in part:
                    lo, hi = (int(p) for p in part.split("-", 1))
                    if hi < lo:
                        raise ValueError
                    rows.extend(range(lo, hi + 1))
                else:
                    rows.append(int(part))
        except ValueError:
            raise ValueError(f"layers {text!r} not understood: {hint}") from None
    if not rows:
        raise ValueError(f"no layers given: {hint}")
    bad = [r for r in rows if r < 0 or r >= n]
    if bad:
        raise ValueError(f"layers {text!r}: row(s) {', '.join(map(str, sorted(set(bad))))} out of range; {hint}")
    return sorted(set(rows))


def _span(rows: List[int]) -> str:
    if not rows:
        return "(none)"
    return f"{rows[0]}-{rows[-1]}" if rows == list(range(rows[0], rows[-1] + 1)) else ",".join(map(str, rows))
