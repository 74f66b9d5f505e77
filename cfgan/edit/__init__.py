"""Scripted latent edits: directions in a generator's W space, applied with strengths, layer ranges and
attributes kept fixed, with the classifier's view of every frame.

Directions (one module each): ``class_direction`` (the classifier's gradient at each image),
``fit_boundary`` / ``boundary_direction`` (a linear SVM in W, InterFaceGAN), ``pca_directions`` (GANSpace),
``load_direction`` (a user's .npy/.pt). ``edit_codes`` applies one; ``evaluate_edit`` classifies the frames
and finds crossing strengths; ``run_edit`` runs the whole job (``cfgan edit``, ``cfgan.jobs.edit.EditJob``)
into a run folder. Strengths are in sigma units: standard deviations of the generator's W codes along the
edit (``strengths``).
"""
from .apply import Edit, direction_sigma, edit_codes, shift_vectors
from .boundary import boundary_direction, fit_boundary
from .conditional import orthonormalize, project_out
from .crossing import EditReport, evaluate_edit
from .direction import Direction, load_direction
from .gradient import class_direction
from .layers import layer_ranges, parse_layers
from .pca import pca_direction, pca_directions
from .samples import LatentSamples, labelled_samples, load_samples, save_samples, w_samples
from .spec import DirectionSpec, parse_direction_spec, resolve_direction
from .strengths import UNIT, parse_strengths


def run_edit(G, classifier, codes, direction, strengths="-3:3:7", out: str = "edit", overwrite: bool = False,
             **options) -> dict:
    """Edit ``codes`` (a ``LatentCode`` or a latent file) along ``direction`` at each strength, into the run
    folder ``out``, exactly as ``cfgan edit`` does (same files; a second call resumes). ``options`` are
    ``EditJob``'s: layers, keep, target, names, samples, n_samples, seed, refine, fps, videos, batch, log.
    Returns the run's summary (``out/summary.json``; every image's row is in ``out/edit.json``)."""
    from cfgan.jobs import run_job
    from cfgan.jobs.edit import EditJob

    return run_job(EditJob(G, classifier, codes, direction, strengths, **options), out, overwrite,
                   log=options.get("log")).summary


def edit_latent_file(G, classifier, latent_file: str, direction, strengths="-3:3:7", out: str = "edit",
                     **options) -> dict:
    """``run_edit`` on the codes of a latent file (``cfgan invert``, ``cross`` or ``am`` wrote it)."""
    return run_edit(G, classifier, latent_file, direction, strengths, out, **options)


__all__ = [
    "Direction", "DirectionSpec", "Edit", "EditReport", "LatentSamples", "UNIT", "boundary_direction",
    "class_direction", "direction_sigma", "edit_codes", "edit_latent_file", "evaluate_edit", "fit_boundary",
    "labelled_samples", "layer_ranges", "load_direction", "load_samples", "orthonormalize",
    "parse_direction_spec", "parse_layers", "parse_strengths", "pca_direction", "pca_directions",
    "project_out", "resolve_direction", "run_edit", "save_samples", "shift_vectors", "w_samples",
]
