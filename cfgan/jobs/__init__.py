"""The jobs behind the command line, all run by one runner (``runner.run_job``): files in, outputs out.

One module per command; each defines a ``Job`` (its settings, its stream of work items, how a batch runs
and how one item's results are written). The runner does the rest the same way for all of them.
"""
from .runner import EXIT_INTERRUPTED, BatchOutput, Item, Job, JobError, JobReport, run_job

__all__ = ["EXIT_INTERRUPTED", "BatchOutput", "Item", "Job", "JobError", "JobReport", "run_job"]
