"""Map images into a generator's latent spaces, and the shared latent-optimisation machinery.

Everything in cfgan that optimises latent codes (or a mask, or a generator) is built from these:
``LatentCode`` (a parametrisation), loss terms combined into an ``Objective``, and ``optimize``
(the one loop).
"""
from .io import load_latents, save_latents
from .latents import LatentCode, check_space
from .losses import (
    FeatureDistance,
    LatentDistance,
    LatentPrior,
    LossTerm,
    LPIPSDistance,
    MultiScaleMSE,
    NoiseRegularizer,
    Objective,
    PixelMSE,
    Rendered,
    Score,
)
from .metrics import psnr, reconstruction_metrics
from .optimize import LRSchedule, OptimizationResult, optimize
from .perceptual import LPIPSUnavailable, lpips_available
from .project import Projection, project
from .pti import pivotal_tuning

__all__ = [
    "FeatureDistance", "LatentCode", "LatentDistance", "LatentPrior", "LossTerm", "LPIPSDistance",
    "LPIPSUnavailable", "LRSchedule", "MultiScaleMSE", "NoiseRegularizer", "Objective", "OptimizationResult",
    "PixelMSE", "Projection", "Rendered", "Score", "check_space", "load_latents", "lpips_available",
    "optimize", "pivotal_tuning", "project", "psnr", "reconstruction_metrics", "save_latents",
]
