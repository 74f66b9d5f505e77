"""The classic attribution baselines, from captum (a dependency, not copies), behind cfgan's method call.

What cfgan adds around each captum call: images in [-1, 1] and class names as targets like every cfgan
method; a bound on the images one pass holds (``max_batch``: IG's ``internal_batch_size``, NoiseTunnel's
``nt_samples_batch_size``, Occlusion's and LIME's ``perturbations_per_eval``, the out-of-memory fix users
look for); and reproducible sampling: captum's LIME and NoiseTunnel draw from torch's global RNG, so each
image runs under a forked RNG seeded from ``seed`` (the caller's stream untouched, a seed always giving the
same map, an image's map independent of the batch it is in), and LIME's features are a fixed grid of
square patches sized to the image rather than a segmentation.
"""
from __future__ import annotations

import warnings
from typing import Any, Dict

import torch
from torch import nn

from .base import SaliencyMethod, seeded


def _quiet(fn, *args, **kwargs):
    """captum warns on every call that it set requires_grad / hooks: expected here, not news to the user."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(require[sd]? gradients|hooks).*")
        warnings.filterwarnings("ignore", category=UserWarning, module="captum")
        return fn(*args, **kwargs)


def default_patch(x: torch.Tensor) -> int:
    """Square patch side for occlusion and LIME: 1/8 of the shorter image side (4 px at 32 px)."""
    return max(1, min(x.shape[-2:]) // 8)


def grid_mask(height: int, width: int, patch: int, device=None) -> torch.Tensor:
    """Feature ids [1, 1, H, W] of a grid of ``patch`` x ``patch`` squares (row-major; edges may be smaller)."""
    rows = torch.arange(height, device=device) // patch
    cols = torch.arange(width, device=device) // patch
    per_row = (width + patch - 1) // patch
    return (rows[:, None] * per_row + cols[None, :]).reshape(1, 1, height, width)


def _positive_int(options: Dict[str, Any], key: str, default: int) -> int:
    value = options.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"option {key} must be an integer >= 1, got {value!r}")
    return value


def _number(options: Dict[str, Any], key: str, minimum: float = 0.0, maximum: float = float("inf")) -> float:
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not minimum <= value <= maximum:
        bounds = f"in [{minimum}, {maximum}]" if maximum != float("inf") else f">= {minimum}"
        raise ValueError(f"option {key} must be a number {bounds}, got {value!r}")
    return float(value)


def _baseline(options: Dict[str, Any]) -> float:
    """The grey level of 'absent' pixels, in the model's range [-1, 1] (0 = mid grey, captum's default)."""
    return _number(options, "baseline", -1.0, 1.0)


class Gradient(SaliencyMethod):
    name = "gradient"

    def _attribute(self, x, target, options):
        from captum.attr import Saliency

        method = Saliency(self.classifier)
        return torch.cat([_quiet(method.attribute, x[s].clone().requires_grad_(True), target=target[s], abs=True)
                          for s in self.chunks(len(x))])


class IntegratedGradientsMethod(SaliencyMethod):
    name = "integrated-gradients"

    def _attribute(self, x, target, options):
        from captum.attr import IntegratedGradients

        steps = _positive_int(options, "steps", 50)
        baseline = _baseline(options)
        method = IntegratedGradients(self.classifier)
        parts = []
        for s in self.chunks(len(x)):
            parts.append(_quiet(method.attribute, x[s], baselines=baseline, target=target[s], n_steps=steps,
                                internal_batch_size=self.max_batch))
        return torch.cat(parts)


class SmoothGrad(SaliencyMethod):
    """``stdev``: the noise's standard deviation in the model's pixel range [-1, 1] (0.3 = 15% of the range,
    within the 10-20% Smilkov et al. recommend)."""

    name = "smoothgrad"

    def _attribute(self, x, target, options):
        from captum.attr import NoiseTunnel, Saliency

        samples = _positive_int(options, "samples", 25)
        stdev = _number(options, "stdev")
        method = NoiseTunnel(Saliency(self.classifier))
        parts = []
        for i in range(len(x)):
            with seeded(self.seed, x.device):
                parts.append(_quiet(method.attribute, x[i:i + 1].clone().requires_grad_(True), nt_type="smoothgrad",
                                    nt_samples=samples, nt_samples_batch_size=self.max_batch, stdevs=stdev,
                                    target=target[i:i + 1], abs=True))
        return torch.cat(parts)


class OcclusionMethod(SaliencyMethod):
    """``window`` (default 1/8 of the image side) and ``stride`` (default half the window), in pixels."""

    name = "occlusion"
    needs_gradients = False

    def _attribute(self, x, target, options):
        from captum.attr import Occlusion

        window = _positive_int(options, "window", default_patch(x))
        stride = _positive_int(options, "stride", max(1, window // 2))
        baseline = _baseline(options)
        if window > min(x.shape[-2:]):
            raise ValueError(f"option window={window} is larger than the {x.shape[-2]}x{x.shape[-1]} images")
        method = Occlusion(self.classifier)
        parts = []
        for s in self.chunks(len(x)):
            per_eval = 64 if self.max_batch is None else max(1, self.max_batch // (s.stop - s.start))
            with torch.no_grad():
                parts.append(_quiet(method.attribute, x[s], sliding_window_shapes=(x.shape[1], window, window),
                                    strides=(x.shape[1], stride, stride), baselines=baseline, target=target[s],
                                    perturbations_per_eval=per_eval))
        return torch.cat(parts)


class LimeMethod(SaliencyMethod):
    """``patch``: side of the square features (default 1/8 of the image side: 64 features at 32 px);
    ``samples``: perturbed images per explanation (default 10 per feature, the usual guidance); ``alpha``:
    the Lasso penalty of the surrogate (captum's default); features switched off take ``baseline``."""

    name = "lime"
    needs_gradients = False

    def _attribute(self, x, target, options):
        from captum._utils.models.linear_model import SkLearnLasso
        from captum.attr import Lime

        patch = _positive_int(options, "patch", default_patch(x))
        mask = grid_mask(x.shape[-2], x.shape[-1], patch, x.device).expand(1, x.shape[1], -1, -1)
        features = int(mask.max()) + 1
        samples = _positive_int(options, "samples", 10 * features)
        baseline = _baseline(options)
        alpha = _number(options, "alpha")
        per_eval = samples if self.max_batch is None else self.max_batch
        method = Lime(self.classifier, interpretable_model=SkLearnLasso(alpha=alpha))
        parts = []
        for i in range(len(x)):
            with seeded(self.seed, x.device), torch.no_grad():
                parts.append(_quiet(method.attribute, x[i:i + 1], baselines=baseline, target=target[i:i + 1],
                                    feature_mask=mask, n_samples=samples, perturbations_per_eval=per_eval))
        return torch.cat(parts)


def check_relu_model(classifier, method: str) -> None:
    """Guided backprop and DeepLift rewrite the backward pass of ``nn.ReLU`` modules: a model without them
    (functional relu, TorchScript) would silently get plain gradients, so refuse it."""
    if isinstance(classifier.model, torch.jit.ScriptModule):
        raise ValueError(f"method {method!r} hooks nn.ReLU modules, which TorchScript classifier "
                         f"{classifier.name} does not support; use gradient or integrated-gradients")
    if not any(isinstance(m, nn.ReLU) for m in classifier.modules()):
        raise ValueError(f"method {method!r} needs a classifier built from nn.ReLU modules; "
                         f"{classifier.name} has none (functional relu?): use gradient or integrated-gradients")


class GuidedBackpropMethod(SaliencyMethod):
    name = "guided-backprop"

    def _attribute(self, x, target, options):
        from captum.attr import GuidedBackprop

        check_relu_model(self.classifier, self.name)
        method = GuidedBackprop(self.classifier)
        return torch.cat([_quiet(method.attribute, x[s].clone().requires_grad_(True), target=target[s])
                          for s in self.chunks(len(x))])


class DeepLiftMethod(SaliencyMethod):
    name = "deeplift"

    def _attribute(self, x, target, options):
        from captum.attr import DeepLift

        check_relu_model(self.classifier, self.name)
        baseline = _baseline(options)
        method = DeepLift(self.classifier)
        return torch.cat([_quiet(method.attribute, x[s].clone().requires_grad_(True),
                                 baselines=torch.full_like(x[s], baseline), target=target[s])
                          for s in self.chunks(len(x), copies=2)])  # DeepLift runs inputs and baselines at once
