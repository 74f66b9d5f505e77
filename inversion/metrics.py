"""Per-image reconstruction metrics reported by every inversion."""
from __future__ import annotations

from typing import Dict, List, Optional

import torch

from . import perceptual
from .losses import masked_mean


def mse(a: torch.Tensor, b: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean squared error per image, on images in [-1, 1]."""
    return masked_mean((a.float() - b.float()) ** 2, mask)


def psnr(a: torch.Tensor, b: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """PSNR in dB per image, peak-to-peak range 2 (images in [-1, 1]), i.e. the usual [0, 1] PSNR."""
    return 10 * torch.log10(4.0 / mse(a, b, mask).clamp_min(1e-12))


def reconstruction_metrics(recon: torch.Tensor, target: torch.Tensor, mask: Optional[torch.Tensor] = None,
                           lpips_net: str = "vgg", lpips_random_backbone: bool = False) -> Dict[str, List]:
    """MSE, PSNR and LPIPS per image. LPIPS is None (with a warning) where its weights are missing."""
    with torch.no_grad():
        out = {"mse": mse(recon, target, mask).tolist(), "psnr": psnr(recon, target, mask).tolist()}
        key = "lpips" if not lpips_random_backbone else "lpips_random_backbone"
        try:
            out[key] = perceptual.lpips_distance(recon, target, mask, lpips_net,
                                                 lpips_random_backbone).tolist()
        except perceptual.LPIPSUnavailable:
            perceptual.warn_unavailable(lpips_net)
            out[key] = [None] * recon.shape[0]
    return out


def summarize(metrics: Dict[str, List]) -> Dict[str, Optional[float]]:
    """Means of per-image metrics (None where a metric was unavailable)."""
    out = {}
    for key, values in metrics.items():
        vals = [v for v in values if v is not None]
        out[key] = sum(vals) / len(vals) if vals else None
    return out
