"""The image convention every cfgan API shares: float tensors [N, C, H, W] with pixels in [-1, 1].

Generators output that range, so inverted images, paths and classifier inputs all use it. Images in
[0, 255] or [0, 1] are the usual mistake; they would be optimised against silently wrong targets, so
they are refused (far outside the range) or flagged (all pixels in [0, 1]) here, at the API boundary.
"""
from __future__ import annotations

import warnings

import torch

#: pixels beyond this are never [-1, 1] data, whatever their sign
FAR_OUTSIDE = 50.0
#: non-negative images brighter than this are [0, 255] data (random-weight generators overshoot [-1, 1]
#: too, but with both signs)
UINT8_LIKE = 3.0


class ImageRangeWarning(UserWarning):
    """Images look like [0, 1] data passed where [-1, 1] is expected."""


def check_image_range(images: torch.Tensor, what: str = "images") -> torch.Tensor:
    """Raise if ``images`` are clearly not in [-1, 1]; warn if every pixel lies in [0, 1]."""
    if not torch.is_tensor(images) or not images.is_floating_point():
        kind = images.dtype if torch.is_tensor(images) else type(images).__name__
        raise ValueError(f"{what} must be a float tensor with pixels in [-1, 1], got {kind}; convert uint8 "
                         "images with x.float() / 127.5 - 1")
    if images.numel() == 0:
        raise ValueError(f"{what} are empty (shape {tuple(images.shape)})")
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{what} contain NaN or infinite values")
    lo, hi = float(images.min()), float(images.max())
    if (lo >= 0 and hi > UINT8_LIKE) or max(hi, -lo) > FAR_OUTSIDE:
        hint = ("they look like [0, 255] pixels: use x / 127.5 - 1" if lo >= 0 and hi <= 255
                else "rescale them to [-1, 1]")
        raise ValueError(f"{what} have pixels in [{lo:.4g}, {hi:.4g}] but cfgan expects [-1, 1]; {hint}")
    # a constant image (a pixel-flip test's all-white end, say) says nothing about the range it came from
    if lo >= 0 and hi > 0.5 and lo < hi and images.shape[0] * images[0].numel() > 16:
        warnings.warn(f"{what}: every pixel lies in [0, 1] ([{lo:.3g}, {hi:.3g}]); cfgan expects [-1, 1] "
                      "(black = -1). If these are [0, 1] images, pass x * 2 - 1.", ImageRangeWarning,
                      stacklevel=3)
    return images


def check_images(G, images: torch.Tensor, what: str = "images") -> torch.Tensor:
    """``images`` as float32 on ``G``'s device, after checking shape [N, C, H, W] and range against ``G``."""
    if not torch.is_tensor(images) or images.ndim != 4:
        raise ValueError(f"{what} must be a tensor [N, C, H, W], got "
                         f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}")
    expected = (G.channels, G.resolution, G.resolution)
    if tuple(images.shape[1:]) != expected:
        raise ValueError(f"{what} have shape {tuple(images.shape[1:])} but the generator makes {expected} "
                         f"(C, H, W); resize/convert them first (cfgan.data.load_image does)")
    check_image_range(images.float(), what)
    return images.to(G.device, torch.float32)
