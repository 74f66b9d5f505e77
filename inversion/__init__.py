"""Map images into a generator's latent spaces, and the shared latent-optimisation machinery.

Everything in cfgan that optimises latent codes (or a mask, or a generator) is built from these:
``LatentCode`` (a parametrisation), loss terms combined into an ``Objective``, and ``optimize``
(the one loop).
"""
from .images import ImageRangeWarning, check_image_range, check_images
from .io import load_latents, save_latents
from .latents import LatentCode, LatentStats, check_space, latent_stats
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
    check_loss_weights,
    reconstruction_terms,
)
from .metrics import psnr, reconstruction_metrics
from .optimize import LRSchedule, MemoryBound, OptimizationResult, StepFunction, optimize
from .perceptual import LPIPSUnavailable, lpips_available
from .project import Projection, ProjectionSettings, project
from .pti import pivotal_tuning

__all__ = [
    "FeatureDistance", "ImageRangeWarning", "LatentCode", "LatentDistance", "LatentPrior", "LatentStats",
    "LossTerm", "LPIPSDistance", "LPIPSUnavailable", "LRSchedule", "MemoryBound", "MultiScaleMSE", "NoiseRegularizer",
    "Objective", "OptimizationResult", "PixelMSE", "Projection", "ProjectionSettings", "Rendered", "Score",
    "StepFunction", "check_image_range", "check_images", "check_loss_weights", "check_space", "latent_stats",
    "load_latents", "lpips_available", "optimize", "pivotal_tuning", "project", "psnr", "reconstruction_metrics",
    "reconstruction_terms", "save_latents",
]
