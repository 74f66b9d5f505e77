"""The saliency methods cfgan offers, by name: what each is, what it needs, and how its maps read.

``make_method(name, classifier, ...)`` builds one; every method answers captum's call
``attribute(inputs, target=...)`` with a tensor shaped like ``inputs``. ``pixel_scores`` turns any method's
attributions into one [N, H, W] map in a shared convention: HIGHER = MORE IMPORTANT for the target class.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

import torch


@dataclass(frozen=True)
class MethodInfo:
    """One method: ``description``; ``needs_generator`` (for its default options; ``generator_options`` name the
    option values that need one); ``signed`` (raw attributions have both signs: positive = evidence for the
    target); ``needs_gradients``; ``score`` (how ``pixel_scores`` reads the raw attributions); ``defaults`` (the
    options and their default values) and ``choices`` (allowed values of enumerated options)."""

    name: str
    description: str
    needs_generator: bool
    signed: bool
    needs_gradients: bool
    score: str
    implementation: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    choices: Mapping[str, Tuple[Any, ...]] = field(default_factory=dict)
    generator_options: Mapping[str, Tuple[Any, ...]] = field(default_factory=dict)
    source: str = "cfgan"

    def needs_generator_for(self, options: Optional[Mapping[str, Any]] = None) -> bool:
        """Whether these options (defaults filled in) need a generator."""
        if not self.generator_options:
            return self.needs_generator
        merged = {**self.defaults, **(options or {})}
        return any(merged.get(k) in values for k, values in self.generator_options.items())


#: how ``pixel_scores`` reads attributions: 'mean' = channel mean as is; 'negate' = minus the channel mean
SCORES = {
    "mean": "the channel mean of the attributions (already higher = more important)",
    "negate": "minus the channel mean (the method returns an invariance: large = unimportant)",
}

_CAPTUM = "cfgan.saliency.captum_methods"
METHODS: Dict[str, MethodInfo] = {info.name: info for info in [
    MethodInfo(
        "fido", "FIDO (Chang et al. 2019): a Bernoulli dropout mask through a concrete relaxation, dropped "
        "pixels in-filled (by the GAN by default); SSR keeps the fewest pixels that preserve the class, SDR "
        "drops the fewest that destroy it. Map: SSR keep / SDR drop probability.",
        needs_generator=True, signed=False, needs_gradients=True, score="mean",
        implementation="cfgan.saliency.fido:FIDO",
        defaults=dict(objective="ssr", infill="gan", steps=150, lr=0.1, sparsity=None, tv=None, grid=None,
                      temperature=0.1, samples=4, bank=256, neighbours=32, blend=0.2, bank_source="prior",
                      latents=None, project_steps=100),
        choices=dict(objective=("ssr", "sdr"), infill=("gan", "gan-project", "blur", "mean", "noise"),
                     bank_source=("prior", "image")),
        generator_options=dict(infill=("gan", "gan-project"))),
    MethodInfo(
        "meaningful", "Meaningful perturbation (Fong & Vedaldi 2017): the smallest deletion mask (blur, "
        "constant or noise) that destroys the class, low-resolution and jittered. Map: 1 - mask (deleted).",
        needs_generator=False, signed=False, needs_gradients=True, score="mean",
        implementation="cfgan.saliency.meaningful:Meaningful",
        defaults=dict(perturbation="blur", steps=150, lr=0.1, l1=None, tv=None, beta=3.0, grid=None,
                      sigma=None, jitter=1),
        choices=dict(perturbation=("blur", "constant", "noise"))),
    MethodInfo(
        "mip", "Stochastic maximal invariant perturbation (Ikeno & Hara): the largest per-pixel noise "
        "amplitudes w in [0, C] whose random perturbations x + t*w, t ~ U[-1, 1], keep the class. "
        "Map: -w (pixels that tolerate little noise matter).",
        needs_generator=False, signed=False, needs_gradients=True, score="negate",
        implementation="cfgan.saliency.mip:MIP",
        defaults=dict(steps=200, lr=0.01, penalty=None, samples=32, max_w=2.0),
    ),
    MethodInfo(
        "mip-lp", "Maximal invariant perturbation, LP variant (Hara et al.): the class-margin constraint "
        "linearised at x and the largest w in [0, C] solved as a linear program (scipy HiGHS). Map: -w.",
        needs_generator=False, signed=False, needs_gradients=True, score="negate",
        implementation="cfgan.saliency.mip_lp:MIPLP",
        defaults=dict(delta=0.1, margin_fraction=0.5, max_w=2.0),
    ),
    MethodInfo(
        "gradient", "Gradient (captum Saliency): |d logit_c / d x|.", needs_generator=False, signed=False,
        needs_gradients=True, score="mean", implementation=f"{_CAPTUM}:Gradient", source="captum"),
    MethodInfo(
        "integrated-gradients", "Integrated Gradients (captum): the gradient integrated along the straight "
        "path from a baseline image.", needs_generator=False, signed=True, needs_gradients=True, score="mean",
        implementation=f"{_CAPTUM}:IntegratedGradientsMethod", source="captum",
        defaults=dict(steps=50, baseline=0.0)),
    MethodInfo(
        "smoothgrad", "SmoothGrad (captum NoiseTunnel over Saliency): |gradient| averaged over noisy copies.",
        needs_generator=False, signed=False, needs_gradients=True, score="mean",
        implementation=f"{_CAPTUM}:SmoothGrad", source="captum", defaults=dict(samples=25, stdev=0.3)),
    MethodInfo(
        "occlusion", "Occlusion (captum): drop in logit_c when a sliding square patch is set to a baseline.",
        needs_generator=False, signed=True, needs_gradients=False, score="mean",
        implementation=f"{_CAPTUM}:OcclusionMethod", source="captum",
        defaults=dict(window=None, stride=None, baseline=0.0)),
    MethodInfo(
        "lime", "LIME (captum): a sparse linear model of logit_c over square patches switched to a baseline; "
        "seeded, so a seed always gives the same map.", needs_generator=False, signed=True,
        needs_gradients=False, score="mean", implementation=f"{_CAPTUM}:LimeMethod", source="captum",
        defaults=dict(patch=None, samples=None, baseline=0.0, alpha=0.01)),
    MethodInfo(
        "guided-backprop", "Guided Backpropagation (captum): gradients with negative ReLU gradients zeroed "
        "(needs nn.ReLU modules).", needs_generator=False, signed=True, needs_gradients=True, score="mean",
        implementation=f"{_CAPTUM}:GuidedBackpropMethod", source="captum"),
    MethodInfo(
        "deeplift", "DeepLift (captum, rescale rule) against a baseline image (needs nn.ReLU modules).",
        needs_generator=False, signed=True, needs_gradients=True, score="mean",
        implementation=f"{_CAPTUM}:DeepLiftMethod", source="captum", defaults=dict(baseline=0.0)),
]}


def method_info(name: str) -> MethodInfo:
    if name not in METHODS:
        raise ValueError(f"unknown saliency method {name!r}; valid methods: {', '.join(METHODS)}")
    return METHODS[name]


def check_options(name: str, options: Mapping[str, Any]) -> Dict[str, Any]:
    """``options`` with defaults filled in; unknown options and values outside a choice raise ValueError."""
    info = method_info(name)
    unknown = sorted(set(options) - set(info.defaults))
    if unknown:
        valid = ", ".join(info.defaults) or "(none)"
        raise ValueError(f"unknown option {unknown[0]!r} for saliency method {name!r}; valid options: {valid}")
    merged = {**info.defaults, **options}
    for key, allowed in info.choices.items():
        if merged[key] not in allowed:
            raise ValueError(f"option {key}={merged[key]!r} of saliency method {name!r} must be one of: "
                             f"{', '.join(map(str, allowed))}")
    return merged


def make_method(name: str, classifier, generator=None, seed: int = 0, max_batch: Optional[int] = None,
                **options: Any):
    """A saliency method by name, with captum's ``attribute(inputs, target=...)``.

    ``classifier``: a ``cfgan.classifiers.Classifier`` or anything ``load_classifier`` accepts;
    ``generator``: a cfgan ``Generator`` (FIDO's GAN in-fill); ``seed``: every random choice (Monte Carlo
    samples, in-fills, LIME's samples, SmoothGrad's noise) comes from it; ``max_batch``: the most images one
    forward/backward pass holds (inner batches of samples, steps and perturbations), None for no bound.
    """
    info = method_info(name)
    merged = check_options(name, options)
    if info.needs_generator_for(merged) and generator is None:
        needs = ", ".join(f"{k}={merged[k]!r}" for k in info.generator_options) or "it"
        raise ValueError(f"saliency method {name!r} with {needs} needs a generator (generator=...)")
    module_name, attr = info.implementation.split(":")
    cls = getattr(importlib.import_module(module_name), attr)
    return cls(classifier, generator=generator, seed=seed, max_batch=max_batch, **options)


def pixel_scores(attributions: torch.Tensor, method_name: str) -> torch.Tensor:
    """One importance map per image, [N, H, W] float: HIGHER = MORE IMPORTANT for the target class.

    Conventions: ``gradient``/``smoothgrad``: the mean over channels of |gradient| (captum's Saliency takes the
    absolute value); ``integrated-gradients``, ``deeplift``, ``guided-backprop``, ``occlusion``, ``lime``: the
    signed channel mean (positive = evidence for the class, negative = against it, so the least important
    pixels are the ones that speak against it); ``fido``: the SSR keep / SDR drop probability;
    ``meaningful``: 1 - mask (how much a pixel is deleted); ``mip``/``mip-lp``: minus the channel mean of w
    (pixels that tolerate only small perturbations matter).
    """
    info = method_info(method_name)
    if not torch.is_tensor(attributions) or attributions.dim() != 4:
        got = list(attributions.shape) if torch.is_tensor(attributions) else type(attributions).__name__
        raise ValueError(f"attributions must be a tensor [N, C, H, W], got {got}")
    scores = attributions.detach().float().mean(1)
    return -scores if info.score == "negate" else scores
