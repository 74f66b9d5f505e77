"""A global surrogate of a classifier in a generator's own directions.

``fit_surrogate`` grows shallow decision trees that predict the classifier's label from a generated
sample's coordinates along a few latent directions (PCA components or fitted boundaries) and measures
their fidelity on held-out samples; ``split_strips`` / ``write_tree_figure`` show each split as an edit;
``run_surrogate`` does the whole job (``cfgan surrogate``, ``cfgan.jobs.surrogate.SurrogateJob``). It lives
beside ``cfgan.edit`` (whose directions and samples it uses) because it answers another question, "how does
the classifier decide, overall?", with its own outputs and command.
"""
from .render import Strip, split_strips, typical_samples, write_strip, write_tree_figure
from .tree import DEPTHS, Surrogate, fit_surrogate, surrogate_directions


def run_surrogate(G, classifier, out: str, directions="boundary", overwrite: bool = False, **options) -> dict:
    """Fit and draw a surrogate tree into the run folder ``out``, exactly as ``cfgan surrogate`` does (a second
    call resumes). ``options`` are ``SurrogateJob``'s: k, depth, depths, n_samples, seed, held_out, samples,
    strip_frames, strip_span, min_samples_leaf. Returns the run's summary (fidelity by depth, files...)."""
    from cfgan.jobs import run_job
    from cfgan.jobs.surrogate import SurrogateJob

    return run_job(SurrogateJob(G, classifier, directions, **options), out, overwrite).summary


__all__ = ["DEPTHS", "Strip", "Surrogate", "fit_surrogate", "run_surrogate", "split_strips",
           "surrogate_directions", "typical_samples", "write_strip", "write_tree_figure"]
