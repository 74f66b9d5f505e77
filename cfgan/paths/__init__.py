"""Decision-crossing paths: frames G(z_1..z_T) along which a classifier's probability of a target class
rises monotonically across its decision boundary while the subject stays itself.

``cross(G, classifier, start, target, method=...)`` runs any method on a batch of paths and returns a
``PathResult``; ``write_paths`` turns one into frames, videos, a filmstrip, a plot, latents and JSON.
Methods (one module each, all built on ``inversion.optimize``): ``ascent`` (gradient ascent, recorded and
resampled), ``regularized`` (joint trajectory with a searched identity weight), ``blackbox`` (the ascent
path with a zeroth-order gradient estimate and a query budget). ``monotone`` checks, repairs and flags.
"""
from .api import METHODS, cross, invert_subjects, make_settings
from .ascent import AscentSettings
from .blackbox import BlackboxSettings, EstimatedTargetLogOdds
from .monotone import check as check_monotone
from .outputs import write_path, write_paths
from .regularized import RegularizedSettings
from .result import PathResult

__all__ = ["METHODS", "AscentSettings", "BlackboxSettings", "EstimatedTargetLogOdds", "PathResult",
           "RegularizedSettings", "check_monotone", "cross", "invert_subjects", "make_settings", "write_path",
           "write_paths"]
