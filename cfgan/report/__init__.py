"""The explanation report: one self-contained ``index.html`` per run folder (or for several at once).

``write_report([run_dir, ...], out=None)`` reads run folders the way the job runner wrote them
(``job.json``, ``items.jsonl``, ``summary.json`` and each item's files) and writes a page that shows
what the run found: per subject its input and reconstruction, the decision-crossing frames with the
probability curve and a frame slider, the video, filmstrip and change map; activation-maximisation grids
per class; a sortable summary table of all paths with a class-pair filter; and the run's settings. The
page uses only files next to it (relative links, no network, no fonts), reads without JavaScript and fits
phone screens. ``cfgan report RUN_DIR...`` calls it, and the job runner calls it at the end of every run
(``run_job(..., report=True)``), interrupted ones included, which the page then says.

Modules: ``runs`` (reading run folders), ``sections`` (what each command shows; a registry new commands
add to), ``images`` (links and sizes of pictures), ``markup`` (tables, badges, settings), ``assets``
(the inline style sheet and script), ``page`` (assembling and writing the page).
"""
from .page import REPORT_FILE, render, report_run, write_report
from .runs import ReportError, Run, load_run
from .sections import register, section_for

__all__ = ["REPORT_FILE", "ReportError", "Run", "load_run", "register", "render", "report_run", "section_for",
           "write_report"]
