"""Boundary-sample augmentation: frames of decision-crossing paths near the classifier's boundary, for a
person to label and add to training (active learning).

``pairs`` says which boundary each image is mined at, ``frames`` which frames of a path are kept,
``order`` in which order they are handed out (``--prefer blind-spot``) and which fit a budget,
``manifest`` the run's ImageFolder tree and ``manifest.jsonl``, ``labels`` merging human labels and
exporting a labelled ImageFolder. The job that runs it all is ``cfgan.jobs.augment.AugmentJob``.
"""
from .frames import boundary_frames, path_samples
from .labels import export_labelled, merge_labels, read_labels_csv
from .manifest import class_folder, read_manifest
from .order import PREFER, select
from .pairs import Boundary, ClassPairs

__all__ = ["PREFER", "Boundary", "ClassPairs", "boundary_frames", "class_folder", "export_labelled",
           "merge_labels", "path_samples", "read_labels_csv", "read_manifest", "select"]
