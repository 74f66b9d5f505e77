"""The report page: one ``index.html`` for one or more run folders, written atomically.

Layout: a title and what the page shows; a warning for every run that did not finish; the summary table
of all decision-crossing paths (sortable, filterable by class pair); one section per run (the command's
renderer from ``sections``) ending with the run's settings. Standard library only: ``html.escape`` for
every value, links relative to the page, the style sheet and a small script inline (``assets``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from generators.files import atomic_write

from .assets import CSS, SCRIPT
from .images import Images
from .markup import Cell, badge, esc, settings_list, table
from .runs import ReportError, Run, load_run
from .sections import _IDENTITY, section_for

REPORT_FILE = "index.html"
#: marks a page this module wrote; another ``index.html`` is never overwritten
MARKER = '<meta name="generator" content="cfgan report">'


class Page:
    """What sections write into: image links, unique anchors, and the rows of the path table."""

    def __init__(self, out: Path, runs: Sequence[Run]):
        self.images = Images(out)
        self.runs = list(runs)
        self.paths: List[dict] = []
        self._ids: Dict[str, int] = {}

    def anchor(self, text: str) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"
        self._ids[base] = self._ids.get(base, 0) + 1
        return base if self._ids[base] == 1 else f"{base}-{self._ids[base]}"

    def add_path(self, run: Run, row: dict) -> None:
        self.paths.append(dict(row, run=self.label(run)))

    def label(self, run: Run) -> str:
        return f"{self.runs.index(run) + 1}: {run.command}" if len(self.runs) > 1 else run.command


def _judged_summary(rows) -> str:
    counts = {}
    for r in rows:
        counts[r.get("label") or "not judged"] = counts.get(r.get("label") or "not judged", 0) + 1
    said = ", ".join(f"{n} {esc(label)}" for label, n in sorted(counts.items()))
    return (f" Independent judges call {said} (genuine: they see the target too; blind-spot: only this "
            "classifier does).")


def _path_table(page: Page) -> str:
    rows = page.paths
    if not rows:
        return ""
    many = len(page.runs) > 1
    identity = [k for k in _IDENTITY if any(r["identity"].get(k) is not None for r in rows)]
    identity += sorted({k for r in rows for k, v in r["identity"].items() if v is not None} - set(identity))
    partial = any(r["status"] != "done" for r in rows)
    judged = any(r.get("label") for r in rows)  # genuine / blind-spot / mixed, when the run had judges
    headers = (["run"] if many else []) + ["subject", "class pair", "crossed", "monotone", "crossing frame",
                                           "p start", "p end"] + (["judges"] if judged else [])
    headers += [_IDENTITY.get(k, k) for k in identity] + ["λ", "classifier queries", "generator evals"]
    headers += ["status"] if partial else []
    body = []
    for r in rows:
        subject = (Cell(html=f'<a href="#{esc(r["anchor"])}">{esc(r["subject"])}</a>', sort=r["subject"])
                   if r["anchor"] else Cell(r["subject"]))
        cells = ([Cell(r["run"])] if many else []) + [subject, Cell(r["pair"]), Cell(r["crossed"]),
                                                       Cell(r["monotone"]), Cell(r["crossing"]), Cell(r["first"]),
                                                       Cell(r["last"])]
        cells += [Cell(r.get("label") or "")] if judged else []
        cells += [Cell(r["identity"].get(k)) for k in identity]
        cells += [Cell(r["lam"]), Cell(r["queries"]), Cell(r["evals"])]
        cells += [Cell(r["status"])] if partial else []
        body.append((cells, {"data-pair": r["pair"]}))
    pairs = sorted({r["pair"] for r in rows})
    options = "".join(f'<option value="{esc(p)}">{esc(p)}</option>' for p in pairs)
    crossed = sum(bool(r["crossed"]) for r in rows)
    monotone = sum(bool(r["monotone"]) for r in rows)
    verdict = _judged_summary(rows) if judged else ""
    return (f'<h2 id="paths">Decision-crossing paths at a glance</h2>'
            f"<p>{crossed} of {len(rows)} paths crossed the decision boundary; {monotone} are monotone (the "
            f"target's probability never drops along the path).{verdict} The distances to the subject (pixel MSE, "
            f"latent L2, LPIPS) are measured at the first frame classified as the target: smaller is closer.</p>"
            f'<p class="filter" hidden><label>Show class pair <select data-filter="paths-table">'
            f'<option value="">all pairs</option>{options}</select></label> <span class="count muted"></span></p>'
            + table(headers, body, "paths-table", caption="Click a column heading to sort (with JavaScript)."))


def render(runs: Sequence[Run], out: Path) -> str:
    """The page for ``runs`` as it will be at ``out/index.html``."""
    page = Page(out, runs)
    bodies, anchors = [], []
    for run in runs:
        sec = section_for(run.command)
        anchor = page.anchor(f"run-{run.command}")
        anchors.append(anchor)
        status = run.status()
        warn = f'<p class="warn" role="status">{esc(status)}</p>' if status else ""
        where = page.images.url(run.path)
        bodies.append(
            f'<section id="{anchor}" aria-labelledby="{anchor}-h"><h2 id="{anchor}-h">{esc(sec.title)}'
            f"{'' if len(runs) == 1 else ' (' + esc(run.path.name) + ')'}</h2>"
            f'<p class="muted">Run folder <code>{esc(where)}</code>, command <code>cfgan {esc(run.command)}</code>'
            f"{', ' + badge('complete', 'ok') if run.complete else ', ' + badge('incomplete', 'bad')}</p>"
            f"{'<p>' + esc(sec.about) + '</p>' if sec.about else ''}{warn}{sec.render(run, page)}"
            f"<h3>Settings</h3>{settings_list(run.settings)}</section>")
    if len(runs) == 1:
        title = section_for(runs[0].command).title if runs[0].command == "demo" else \
            f"cfgan {runs[0].command}: {runs[0].path.name}"
    else:
        title = f"cfgan report: {len(runs)} runs"
    warnings = "".join(f'<p class="warn" role="status"><strong>{esc(page.label(run))}</strong>: '
                       f"{esc(run.status())}</p>" for run in runs if run.status())
    toc = ""
    if len(runs) > 1 or page.paths:
        links = (['<li><a href="#paths">Decision-crossing paths at a glance</a></li>'] if page.paths else [])
        links += [f'<li><a href="#{esc(ident)}">{esc(section_for(run.command).title)} '
                  f"({esc(run.path.name)})</a></li>" for ident, run in zip(anchors, runs)]
        toc = f'<nav class="toc" aria-label="contents"><ul>{"".join(links)}</ul></nav>'
    return ("<!doctype html>\n"
            f'<html lang="en"><head><meta charset="utf-8">{MARKER}'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
            f"<h1>{esc(title)}</h1>"
            '<p class="muted">Made by <code>cfgan report</code> from the files in the run folder'
            f"{'s' if len(runs) > 1 else ''}; every picture links to a file there. Small images are shown "
            "enlarged with their pixels kept sharp.</p>"
            f"{warnings if len(runs) > 1 else ''}{toc}{_path_table(page)}{''.join(bodies)}"
            f"<script>{SCRIPT}</script></main></body></html>\n")


def write_report(run_dirs: Sequence, out=None) -> Path:
    """Write ``index.html`` for the run folders ``run_dirs`` into ``out`` (default: the one run folder);
    returns its path. ReportError (naming RUN_DIR or --out) when the folders are not runs or ``out`` would
    overwrite a page cfgan did not write."""
    if not run_dirs:
        raise ReportError("RUN_DIR: give at least one run folder")
    runs = [load_run(d) for d in run_dirs]
    resolved = [run.path.resolve() for run in runs]
    if len(set(resolved)) != len(resolved):
        raise ReportError("RUN_DIR: the same run folder is given twice")
    if out is None:
        if len(runs) > 1:
            raise ReportError("--out: a report of several runs needs a folder to write it to (--out DIR)")
        out = runs[0].path
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out {out} is a file, not a folder")
    target = out / REPORT_FILE
    if target.is_file() and out.resolve() not in resolved and MARKER not in _head(target):
        raise ReportError(f"--out {out}: {target} exists and was not written by cfgan report; choose another --out")
    text = render(runs, out)
    try:
        with atomic_write(target) as f:
            f.write(text)
    except OSError as err:
        raise ReportError(f"--out {out}: cannot write {REPORT_FILE} ({err.strerror or err})") from None
    return target


def _head(path: Path, size: int = 4096) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(size)
    except OSError:
        return ""


def report_run(out, log=None) -> Optional[Path]:
    """The runner's hook: rewrite a run folder's report after its final summary. A report that cannot be
    written never fails the run (its results are on disk); the message says how to retry."""
    try:
        return write_report([out])
    except KeyboardInterrupt:
        if log:
            log(f"warning: the report {Path(out) / REPORT_FILE} was not written (interrupted); "
                f"write it with: cfgan report {out}")
        return None
    except Exception as err:  # noqa: BLE001 - the run's own files are written; say so and go on
        if log:
            log(f"warning: could not write the report {Path(out) / REPORT_FILE}: {type(err).__name__}: {err} "
                f"(retry with: cfgan report {out})")
        return None
