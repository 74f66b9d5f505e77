"""Saliency: "which region of this image, had it been different, would have changed the decision?"

``make_method(name, classifier, generator=None, seed=0, max_batch=None, **options)`` builds any method in
``METHODS`` (FIDO with GAN in-fill, meaningful perturbation, stochastic and LP maximal invariant
perturbation, and captum's gradient, integrated-gradients, smoothgrad, occlusion, lime, guided-backprop,
deeplift); each answers captum's ``attribute(inputs, target=...)``. ``pixel_scores`` turns attributions into
[N, H, W] maps where higher means more important for the target class.
"""
from .base import SaliencyMethod
from .registry import METHODS, MethodInfo, check_options, make_method, method_info, pixel_scores

__all__ = ["METHODS", "MethodInfo", "SaliencyMethod", "check_options", "make_method", "method_info",
           "pixel_scores"]
