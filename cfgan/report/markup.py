"""Small HTML pieces the page and the sections share: escaped text, numbers, badges, tables, settings lists.

Everything that reaches the page from a run (names, paths, settings) goes through ``esc``
(``html.escape``), so a file or class name can never break the markup.
"""
from __future__ import annotations

import json
import math
from html import escape
from typing import Any, Iterable, List, Optional, Sequence, Tuple


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    """A value as table text: floats to ``digits`` significant figures, None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value) or value == 0:
            return str(value)
        magnitude = math.floor(math.log10(abs(value))) + 1
        if magnitude > 6 or magnitude < -2:
            return f"{value:.{digits}g}"
        return f"{value:.{max(digits, magnitude)}g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def badge(text: str, kind: str = "") -> str:
    return f'<span class="badge{" " + kind if kind else ""}">{esc(text)}</span>'


class Cell:
    """A table cell: shown ``html`` (already escaped), sort value ``sort`` and whether it is a number."""

    def __init__(self, value: Any = None, html: Optional[str] = None, sort: Any = None):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        self.html = html if html is not None else esc(fmt(value))
        self.sort = sort if sort is not None else (value if number else (int(value) if isinstance(value, bool)
                                                                          else None))
        self.number = number or isinstance(value, bool)


def table(headers: Sequence[str], rows: Iterable[Tuple[Sequence[Any], dict]], table_id: str = "",
          sortable: bool = True, caption: str = "") -> str:
    """A table in a horizontally scrolling box (phones). Each row is (cells, attributes of its ``<tr>``);
    a cell is a Cell or a plain value. With ``sortable``, the script makes every heading a sort button."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    body: List[str] = []
    for cells, attrs in rows:
        tr = "".join(f' {k}="{esc(v)}"' for k, v in attrs.items())
        tds = []
        for cell in cells:
            cell = cell if isinstance(cell, Cell) else Cell(cell)
            sort = "" if cell.sort is None else f' data-v="{esc(cell.sort)}"'
            num = ' class="num"' if cell.number else ""
            tds.append(f"<td{num}{sort}>{cell.html}</td>")
        body.append(f"<tr{tr}>{''.join(tds)}</tr>")
    ident = f' id="{esc(table_id)}"' if table_id else ""
    cap = f'<caption class="muted">{esc(caption)}</caption>' if caption else ""
    cls = ' class="sortable"' if sortable else ""
    return (f'<div class="table"><table{ident}{cls}>{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def flatten(settings: dict, prefix: str = "") -> List[Tuple[str, Any]]:
    """Nested settings as (dotted name, value) pairs."""
    out: List[Tuple[str, Any]] = []
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out += flatten(value, name + ".")
        else:
            out.append((name, value))
    return out


def settings_list(settings: dict) -> str:
    if not settings:
        return '<p class="muted">(no settings recorded)</p>'
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc('none' if v is None else fmt(v, 6))}</dd>"
                   for k, v in flatten(settings))
    return f'<dl class="settings">{rows}</dl>'
