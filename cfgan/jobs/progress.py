"""Progress of a run: one overall bar (items done / total, ETA) on a terminal, one plain line per item
otherwise (logs, CI), so long jobs are never silent."""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO


class Progress:
    """``start(total, already_done)``, ``step(step, steps, info)`` from the optimisation loop,
    ``item_done(key, note, produced)`` per finished item, ``close()``. With ``produced_unit`` set (e.g.
    'samples'), what the items produced is counted and shown with its rate per minute."""

    def __init__(self, desc: str, enabled: bool = True, stream: Optional[TextIO] = None,
                 echo: Optional[Callable[[str], None]] = None):
        self.desc, self.enabled = desc, enabled
        self.stream = stream or sys.stderr
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.echo = echo or (lambda line: print(line, file=self.stream, flush=True))
        self.bar = None
        self.produced_unit: Optional[str] = None
        self.produced = 0
        self.total = self.done = self.start_done = 0
        self.started = time.perf_counter()

    def start(self, total: int, already_done: int = 0) -> None:
        self.total, self.done, self.start_done = total, already_done, already_done
        self.started = time.perf_counter()
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=already_done, desc=self.desc, unit="item", file=self.stream,
                            dynamic_ncols=True)

    def step(self, step: int, steps: int, info: dict) -> None:
        """Inner optimisation progress: shown on the bar's postfix, not as separate lines."""
        if self.bar is not None:
            loss = info.get("loss")
            made = f", {self.produced_text()}" if self.produced_unit else ""
            self.bar.set_postfix_str(f"step {step}/{steps}" + (f" loss {loss:.4g}" if loss is not None else "")
                                     + made, refresh=False)

    def produced_text(self) -> str:
        """'12 samples, 3.4 samples/min' (this run's rate), or '' when nothing is counted."""
        if not self.produced_unit:
            return ""
        minutes = max(time.perf_counter() - self.started, 1e-9) / 60
        return f"{self.produced} {self.produced_unit}, {self.produced / minutes:.1f} {self.produced_unit}/min"

    def item_done(self, key: str, note: str = "", produced: int = 0) -> None:
        self.done += 1
        self.produced += int(produced)
        if self.bar is not None:
            if self.produced_unit:
                self.bar.set_postfix_str(self.produced_text(), refresh=False)
            self.bar.update(1)
        elif self.enabled:
            rate = (self.done - self.start_done) / max(time.perf_counter() - self.started, 1e-9)
            left = (self.total - self.done) / rate if rate > 0 else float("nan")
            eta = f", ETA {_duration(left)}" if left == left and self.done < self.total else ""
            made = f"; {self.produced_text()}" if self.produced_unit else ""
            self.echo(f"{self.desc}: {self.done}/{self.total} {key}" + (f" ({note})" if note else "") + eta + made)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"
