"""Reading a run folder the way the job runner wrote it: ``job.json``, the ``items.jsonl`` ledger,
``summary.json``.

The report never writes into what it reads and never trusts a run to be finished: the ledger is the list
of written items (also while a run is going, or after ``kill -9``), the summary says whether the run ended
and how, and ``Run.status`` turns that into one sentence for the top of the page.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from cfgan.jobs.runner import JOB_FILE, RUN_FORMAT, SUMMARY, read_ledger


class ReportError(ValueError):
    """A report that cannot be made as asked; the message names the argument and what to do."""


@dataclass
class Run:
    """One run folder: its command, settings, summary and items (each ``key``, ``status`` and its record)."""

    path: Path
    command: str
    settings: dict
    summary: dict = field(default_factory=dict)
    items: List[dict] = field(default_factory=list)

    @property
    def total(self) -> Optional[int]:
        return self.summary.get("total")

    @property
    def done(self) -> int:
        return sum(item.get("status") == "done" for item in self.items)

    @property
    def partial(self) -> int:
        return sum(item.get("status") != "done" for item in self.items)

    @property
    def finished(self) -> bool:
        """The runner wrote its final summary (it carries the per-item records)."""
        return "items" in self.summary

    @property
    def complete(self) -> bool:
        return self.finished and not self.summary.get("interrupted") and self.done == self.total

    def status(self) -> Optional[str]:
        """None for a complete run, else what is missing and how to finish it."""
        if self.complete:
            return None
        total = "?" if self.total is None else self.total
        counts = f"{self.done} of {total} items are done" + (f", {self.partial} written as partial (cut short)"
                                                               if self.partial else "")
        if not self.finished:
            why = "it has not finished: there is no final summary (it is still running, or it was killed)"
        elif self.summary.get("interrupted"):
            why = "it was interrupted"
        else:
            why = "it is incomplete"
        return (f"This run is incomplete: {why}; {counts}. Run the same command again to resume it; "
                "its report is rewritten when it ends.")

    def item_folder(self, item: dict) -> Path:
        return self.path / item["key"]


def _read_json(path: Path, what: str, folder: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ReportError(f"RUN_DIR {folder}: cannot read {what} ({err})") from None
    if not isinstance(data, dict):
        raise ReportError(f"RUN_DIR {folder}: {what} is not a JSON object")
    return data


def _items(folder: Path) -> List[dict]:
    """The ledger's entries in input order, read without repairing anything (the report only reads)."""
    ordered = sorted(read_ledger(folder, repair=False).values(), key=lambda e: e.get("index", 0))
    return [dict(key=e["key"], status=e.get("status", "done"), **(e.get("record") or {})) for e in ordered]


def load_run(folder) -> Run:
    """The run in ``folder``; a ReportError naming RUN_DIR if it is not a cfgan run folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"RUN_DIR {folder}: no such folder")
    job_file = folder / JOB_FILE
    if not job_file.is_file():
        raise ReportError(f"RUN_DIR {folder} is not a cfgan run folder (it has no {JOB_FILE}); give a folder "
                          "that a cfgan command wrote with --out")
    job = _read_json(job_file, JOB_FILE, folder)
    if job.get("format") != RUN_FORMAT or not isinstance(job.get("command"), str):
        raise ReportError(f"RUN_DIR {folder}: {JOB_FILE} is not a cfgan run description")
    summary = _read_json(folder / SUMMARY, SUMMARY, folder) if (folder / SUMMARY).is_file() else {}
    items = _items(folder)
    if not items and isinstance(summary.get("items"), list):
        items = [i for i in summary["items"] if isinstance(i, dict) and "key" in i]
    return Run(folder, job["command"], job.get("settings") or {}, summary, items)
