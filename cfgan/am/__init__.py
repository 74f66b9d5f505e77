"""Activation maximisation: "what does my classifier think a <class> looks like?"

- ``maximize(G, classifier, targets, space='w', restarts=16, ...)``: search a generator's latent space, so
  the answers are images the generator can make (on the data manifold).
- ``maximize_pixels(classifier, targets, image_shape, ...)``: the classic pixel-space baseline with L2/L1,
  total variation, jitter and blur regularisers.
Targets are class names/indices or ``Unit(layer, index)`` (a channel or neuron of a named layer). Both
return an ``AMResult``; ``outputs`` draws grids and panels of it.
"""
from .generator_am import AMSettings, maximize, truncated
from .objectives import ClassTarget, TargetScore, Unit, all_classes, layer_names, resolve_targets
from .pixel_am import PixelCode, gaussian_blur, maximize_pixels
from .result import AMResult
from .terms import Diversity, PixelL1, PixelL2, TotalVariation, pairwise_group_distance

__all__ = [
    "AMResult", "AMSettings", "ClassTarget", "Diversity", "PixelCode", "PixelL1", "PixelL2", "TargetScore",
    "TotalVariation", "Unit", "all_classes", "gaussian_blur", "layer_names",
    "maximize", "maximize_pixels", "pairwise_group_distance", "resolve_targets", "truncated",
]

