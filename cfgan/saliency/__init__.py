"""Saliency: "which region of this image, had it been different, would have changed the decision?"

``make_method(name, classifier, generator=None, seed=0, max_batch=None, **options)`` builds any method in
``METHODS`` (FIDO with GAN in-fill, meaningful perturbation, stochastic and LP maximal invariant
perturbation, and captum's gradient, integrated-gradients, smoothgrad, occlusion, lime, guided-backprop,
deeplift); each answers captum's ``attribute(inputs, target=...)``. ``pixel_scores`` turns attributions into
[N, H, W] maps where higher means more important for the target class. ``make_infiller(name, G)`` gives
FIDO's in-fillers (mean, blur, noise, gan, gan-project) for use elsewhere (``.apply(x, keep)``).
"""
from .base import SaliencyMethod
from .infill import Infiller, make_infiller
from .registry import METHODS, MethodInfo, check_options, make_method, method_info, pixel_scores

__all__ = ["Infiller", "METHODS", "MethodInfo", "SaliencyMethod", "check_options", "make_infiller", "make_method",
           "method_info", "pixel_scores"]
