"""A global surrogate of a classifier in a generator's own directions.

``fit_surrogate`` grows shallow decision trees that predict the classifier's label from a generated
sample's coordinates along a few latent directions (PCA components or fitted boundaries) and measures
their fidelity on held-out samples; ``split_strips`` / ``write_tree_figure`` show each split as an edit;
``run_surrogate`` does the whole job. It lives beside ``cfgan.edit`` (whose directions and samples it
uses) because it answers another question, "how does the classifier decide, overall?", with its own
outputs and command.
"""
from .job import run_surrogate
from .render import Strip, split_strips, typical_samples, write_strip, write_tree_figure
from .tree import DEPTHS, Surrogate, fit_surrogate, surrogate_directions

__all__ = ["DEPTHS", "Strip", "Surrogate", "fit_surrogate", "run_surrogate", "split_strips",
           "surrogate_directions", "typical_samples", "write_strip", "write_tree_figure"]
