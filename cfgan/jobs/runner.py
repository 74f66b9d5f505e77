"""The one way every command runs: stream work items, write each one atomically, resume, stop honestly.

A run folder holds:

- ``job.json``: which command and settings made it. A second run with the same command and settings
  resumes; anything else is refused unless ``overwrite`` is set, so two runs never mix in one folder.
- ``<item>/``: one folder per finished work item, built in ``.staging/`` and renamed into place in one step,
  so an item folder is either complete or absent, even after ``kill -9``.
- ``items.jsonl``: the ledger, one line per written item (``done``, or ``partial`` when the run was
  interrupted while the item was being optimised). It is the truth on resume: ``done`` items are skipped,
  everything else is redone; a torn last line (a kill during the append) is dropped. Under ``torchrun``
  each rank keeps ``items.rank<R>.jsonl`` and rank 0 merges them at the end (``distributed.py``).
- ``summary.json``: rewritten after every batch; ``complete`` is true only when every item is done.
- ``index.html``: with ``run_job(..., report=True)`` (every command's default), the run's report page
  (``cfgan.report``), written after the final summary, also when the run was interrupted.

Ctrl-C (or SIGTERM) lets the current batch's optimisation stop early; its items are written and marked
``partial``, the summary says ``interrupted``, and ``JobReport.exit_code`` is 130.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from generators.files import atomic_write, write_json

from . import distributed
from .distributed import Ranks
from .progress import Progress

RUN_FORMAT = "cfgan.run"
RUN_VERSION = 1
JOB_FILE, LEDGER, SUMMARY, STAGING = "job.json", "items.jsonl", "summary.json", ".staging"
EXIT_INTERRUPTED = 130


class JobError(ValueError):
    """A run that cannot start (or continue) as asked; the message says what to do instead."""


@dataclass
class Item:
    """One unit of work. ``key`` names its folder; ``index`` is its place in the input stream, so
    per-item randomness (``seed + index``) never depends on how items were batched or resumed."""

    key: str
    index: int
    payload: Any = None


@dataclass
class BatchOutput:
    """What a job's ``run`` returns for a batch: one output per item, and whether it was cut short."""

    outputs: List[Any]
    interrupted: bool = False


class Job:
    """A command's work, as the runner sees it. Subclasses fill in the five methods."""

    command: str = "job"
    batch_size: int = 1
    #: 'folder': each item's files go to ``out/<key>/``; 'file': its files (named after the key) go to ``out/``
    layout: str = "folder"
    #: fixed blocks: a batch is always the block of ``batch_size`` consecutive stream indices an item belongs
    #: to (done items of a block being resumed are recomputed, not rewritten) and ranks own whole blocks, so
    #: a batch's composition, hence every float of its results, never depends on resumption or sharding
    fixed_blocks: bool = False
    #: what ``produced`` counts (e.g. 'samples'): the progress shows how many and how many per minute
    produced_unit: Optional[str] = None

    def settings(self) -> dict:
        """Everything that decides the outputs (inputs and options, not batch size or device)."""
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError

    def items(self) -> Iterator[Item]:
        """The work items in a fixed order, produced lazily (never all held at once)."""
        raise NotImplementedError

    def run(self, items: List[Item], step_progress: Callable) -> BatchOutput:
        raise NotImplementedError

    def write(self, item: Item, output: Any, folder: Path) -> dict:
        """Write one item's files into ``folder`` (fresh, private); return its JSON record."""
        raise NotImplementedError

    def finish(self, out: Path, records: Dict[str, dict]) -> dict:
        """Files that combine items (grids, one latent file...); returns extra summary fields."""
        return {}

    def describe(self, record: dict) -> str:
        """One short line about a finished item for logs."""
        return ""

    def produced(self, record: dict) -> int:
        """How many ``produced_unit`` a finished item yielded (for the progress rate)."""
        return 0


@dataclass
class JobReport:
    out: Path
    total: int
    done: int
    partial: int
    interrupted: bool
    summary: dict = field(default_factory=dict)
    page: Optional[Path] = None  # the run's report (index.html), when one was written
    leader: bool = True  # False on the other ranks of a torchrun launch: rank 0 speaks for the run

    @property
    def exit_code(self) -> int:
        return EXIT_INTERRUPTED if self.interrupted else 0


# -- the run folder -------------------------------------------------------------------------------------
def check_writable(out: Path) -> None:
    """Fail before any work if ``out`` cannot hold results."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise JobError(f"cannot write results to --out {out}: {err.strerror or err}") from None


def _identity(job: Job) -> dict:
    return {"format": RUN_FORMAT, "version": RUN_VERSION, "command": job.command,
            "settings": json.loads(json.dumps(job.settings(), default=str))}


def _differences(old: dict, new: dict) -> List[str]:
    if old.get("command") != new["command"]:
        return [f"command {old.get('command')!r} vs {new['command']!r}"]
    a, b = old.get("settings") or {}, new["settings"]
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def open_run(out: Path, job: Job, overwrite: bool) -> bool:
    """Prepare ``out`` for ``job``; True when it resumes an earlier run of the same job."""
    check_writable(out)
    identity = _identity(job)
    job_file = out / JOB_FILE
    if job_file.is_file():
        try:
            old = json.loads(job_file.read_text())
        except (OSError, ValueError):
            old = {}
        differences = _differences(old, identity)
        if not differences:
            if overwrite:
                _clear(out)
                write_json(job_file, identity)
                return False
            return True
        if not overwrite:
            shown = "; ".join(differences[:4]) + (" ..." if len(differences) > 4 else "")
            raise JobError(f"--out {out} holds a different cfgan run ({shown}); pass --overwrite to replace it, "
                           "or choose another --out")
        _clear(out)
    elif any(p.name != STAGING for p in out.iterdir()):
        raise JobError(f"--out {out} is not empty and is not a cfgan run folder; choose a new or empty folder")
    write_json(job_file, identity)
    return False


def _clear(out: Path) -> None:
    """Remove a cfgan run folder's contents (it was checked to be one: it has a job.json)."""
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _read_ledger_file(path: Path, repair: bool = True) -> List[dict]:
    """Entries of one ledger file; a torn last line is ignored, and with ``repair`` cut off so later appends
    stay readable."""
    entries: List[dict] = []
    raw = path.read_bytes()
    good = 0
    for line in raw.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            entries.append(json.loads(line))
        except ValueError:
            break
        good += len(line)
    if repair and good != len(raw):
        with open(path, "r+b") as f:
            f.truncate(good)
    return entries


def read_ledger(out: Path, repair: bool = True) -> Dict[str, dict]:
    """key -> the item's entry across every ledger file of the run (a ``done`` entry beats a partial one).
    Readers that must not write (reports) pass ``repair=False``."""
    entries: Dict[str, dict] = {}
    for path in sorted(Path(out).glob("items*.jsonl")):
        for entry in _read_ledger_file(path, repair):
            old = entries.get(entry["key"])
            if old is None or entry.get("status") == "done" or old.get("status") != "done":
                entries[entry["key"]] = entry
    return entries


def _ledger_path(out: Path, ranks: Ranks) -> Path:
    return out / (LEDGER if ranks.world == 1 else f"items.rank{ranks.rank}.jsonl")


def _append_ledger(path: Path, entry: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(entry, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _merge_ledgers(out: Path, entries: Dict[str, dict]) -> None:
    """One ``items.jsonl`` in stream order replaces the per-rank files (rank 0, at the end of a run)."""
    ordered = sorted(entries.values(), key=lambda e: e["index"])
    with atomic_write(out / LEDGER) as f:
        for entry in ordered:
            f.write(json.dumps(entry, default=str) + "\n")
    for path in out.glob("items.rank*.jsonl"):
        path.unlink()


def _commit_item(out: Path, key: str, staging: Path, layout: str) -> None:
    """Move a fully written staging folder to ``out/key`` in one rename (replacing a stale one); for
    ``layout='file'`` jobs, move each of its entries to ``out/`` instead (one rename per file or folder)."""
    if layout == "file":
        for path in staging.iterdir():
            target = out / path.name
            if path.is_dir():
                _discard(out, target)  # a folder of an item that was being committed when the run stopped
            os.replace(path, target)
        staging.rmdir()
        return
    final = out / key
    _discard(out, final)
    os.replace(staging, final)


def _discard(out: Path, path: Path) -> None:
    """Remove a stale ``path`` if there is one, renaming it away first so it is never seen half-deleted."""
    if not (path.exists() or path.is_symlink()):
        return
    trash = out / STAGING / f"old-{path.name}-{uuid.uuid4().hex[:8]}"
    os.replace(path, trash)
    if trash.is_dir() and not trash.is_symlink():
        shutil.rmtree(trash, ignore_errors=True)
    else:
        trash.unlink()


@contextlib.contextmanager
def _interruptible():
    """SIGINT and SIGTERM both stop a run the Ctrl-C way, also in a process started with SIGINT ignored
    (a background job of a script); only the main thread can install handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _blocks(items: Iterator[Item], size: int, skip: Sequence[str], ranks: Ranks) -> Iterator[List[Item]]:
    """Fixed blocks (``Job.fixed_blocks``): every block of ``size`` consecutive indices this rank owns that still
    has an item to do, whole (with its done items)."""
    skip = set(skip)
    block: List[Item] = []
    for item in items:
        if block and item.index // size != block[0].index // size:
            if ranks.owns(block[0].index // size) and any(i.key not in skip for i in block):
                yield block
            block = []
        block.append(item)
    if block and ranks.owns(block[0].index // size) and any(i.key not in skip for i in block):
        yield block


def _batches(items: Iterator[Item], size: int, skip: Sequence[str], ranks: Ranks,
             fixed: bool = False) -> Iterator[List[Item]]:
    if fixed:
        yield from _blocks(items, size, skip, ranks)
        return
    skip = set(skip)
    batch: List[Item] = []
    for item in items:
        if item.key in skip or not ranks.owns(item.index):
            continue
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _prepare(out: Path, job: Job, overwrite: bool, ranks: Ranks) -> bool:
    """Rank 0 opens the run folder (others wait, then join the same run); every rank gets its error."""
    outcome: Any = None
    if ranks.leader:
        try:
            outcome = open_run(out, job, overwrite)
            shutil.rmtree(out / STAGING, ignore_errors=True)
        except JobError as err:
            outcome = err
    outcome = distributed.broadcast(ranks, outcome)
    if isinstance(outcome, JobError):
        raise outcome
    return bool(outcome)


# -- running ----------------------------------------------------------------------------------------------
def run_job(job: Job, out, overwrite: bool = False, progress: Optional[Progress] = None,
            log: Optional[Callable[[str], None]] = None, report: bool = False) -> JobReport:
    """Run ``job`` into the folder ``out``: resume what is there, write each item atomically, summarise;
    with ``report``, then write ``out/index.html`` (``cfgan.report``), also for an interrupted run.

    Under ``torchrun`` every process calls this with the same arguments and takes its share of the items.
    """
    out = Path(out)
    ranks = distributed.current()
    resumed = _prepare(out, job, overwrite, ranks)
    entries = read_ledger(out) if resumed else {}
    done_keys = [k for k, e in entries.items() if e.get("status") == "done"]
    total = job.count()
    progress = progress or Progress(job.command, enabled=False)
    if not ranks.leader:
        progress.desc = f"{progress.desc} (rank {ranks.rank})"
    progress.produced_unit = job.produced_unit
    progress.start(total, len(done_keys))
    if resumed and log and ranks.leader:
        log(f"resuming {out}: {len(done_keys)} of {total} items already done")
    ledger = _ledger_path(out, ranks)
    started = time.perf_counter()
    interrupted = False
    try:
        with _interruptible():
            for batch in _batches(job.items(), max(1, job.batch_size), done_keys, ranks, job.fixed_blocks):
                try:
                    result = job.run(batch, progress.step)
                except KeyboardInterrupt:
                    interrupted = True
                    break
                status = "partial" if result.interrupted else "done"
                for item, output in zip(batch, result.outputs):
                    if entries.get(item.key, {}).get("status") == "done":  # a resumed fixed block's done item
                        continue
                    staging = out / STAGING / f"{item.key}-{uuid.uuid4().hex[:8]}"
                    staging.mkdir(parents=True)
                    record = job.write(item, output, staging)
                    _commit_item(out, item.key, staging, job.layout)
                    entry = {"key": item.key, "index": item.index, "status": status, "record": record}
                    _append_ledger(ledger, entry)
                    entries[item.key] = entry
                    if status == "done":
                        progress.item_done(item.key, job.describe(record), job.produced(record))
                if ranks.world == 1:
                    _write_summary(out, job, entries, total, result.interrupted, time.perf_counter() - started)
                if result.interrupted:
                    interrupted = True
                    break
    except KeyboardInterrupt:  # between batches or while writing: what is committed stays committed
        interrupted = True
    finally:
        progress.close()
    interrupted = distributed.any_rank(ranks, interrupted)  # also waits for every rank to finish its share
    summary: dict = {}
    page = None
    if ranks.leader:
        if ranks.world > 1:
            entries = read_ledger(out)
            _merge_ledgers(out, entries)
        summary = _write_summary(out, job, entries, total, interrupted, time.perf_counter() - started, final=True)
        shutil.rmtree(out / STAGING, ignore_errors=True)
        if report:  # after the final summary, so the page shows exactly what `cfgan report out` would
            from cfgan.report import report_run

            page = report_run(out, log)
    summary = distributed.broadcast(ranks, summary)
    distributed.barrier(ranks)
    return JobReport(out, total, summary["done"], summary["partial"], interrupted, summary, page, ranks.leader)


def _write_summary(out: Path, job: Job, entries: Dict[str, dict], total: int, interrupted: bool,
                   seconds: float, final: bool = False) -> dict:
    ordered = sorted(entries.values(), key=lambda e: e["index"])
    done = [e for e in ordered if e.get("status") == "done"]
    partial = [e for e in ordered if e.get("status") != "done"]
    summary = {"command": job.command, "settings": job.settings(), "total": total, "done": len(done),
               "partial": len(partial), "pending": total - len(done) - len(partial),
               "complete": len(done) == total, "interrupted": interrupted, "seconds_this_run": round(seconds, 3)}
    if final:  # per-item detail and combined files once per run; the ledger has them meanwhile
        summary.update(job.finish(out, {e["key"]: e["record"] for e in done}))
        summary["items"] = [dict(key=e["key"], status=e["status"], **e["record"]) for e in ordered]
    write_json(out / SUMMARY, summary)
    return summary
