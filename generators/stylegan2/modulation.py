"""Style modulation and demodulation: StyleGAN2's replacement for AdaIN.

Each sample n scales the input channels of a shared filter bank W [O, I, k, k] by its style s[n] [I];
demodulation then divides every output filter by its L2 norm, ``d[n, o] = 1 / ||W[o] * s[n]||``, which
restores unit output variance for unit-variance inputs without looking at the activations. Two ways to
compute the same thing:

* per-sample filters: build W * s[n] * d[n] for every n and run one grouped convolution over the batch
  (one kernel launch; what CUDA inference uses);
* modulated activations: scale the input channels of x by s[n], convolve with the shared W, scale the
  output channels by d[n] (no per-sample filters; faster on CPUs and for training).

A 1x1 kernel without resampling is a batched matrix product with per-sample [O, I] matrices, whichever
way is asked for.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from generators import ops

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def demodulation(weight: torch.Tensor, styles: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """d[n, o] = 1 / sqrt(sum_{i, taps} (W[o, i] * s[n, i])^2 + eps), as [N, O].

    The sum factors into ``s^2 @ (energy of each filter tap set)^T``, so no per-sample filter is built.
    """
    energy = weight.square().sum(dim=[2, 3])  # [O, I]
    return (styles.square() @ energy.t()).add(eps).rsqrt()


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool = True,
                     per_sample_filters: bool = False, up: int = 1, padding: int = 0,
                     resample_filter: Optional[torch.Tensor] = None, flip_weight: bool = True,
                     noise: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Convolve x [N, I, H, W] with ``weight`` [O, I, k, k] modulated by ``styles`` [N, I]; add ``noise``.

    ``up``, ``padding``, ``resample_filter`` and ``flip_weight`` are passed on to ``ops.conv2d_resample``.
    Weights and styles stay in float32; the convolution runs in x's dtype.
    """
    y, scale = convolve_modulated(x, weight, styles, demodulate=demodulate, per_sample_filters=per_sample_filters,
                                  up=up, padding=padding, resample_filter=resample_filter, flip_weight=flip_weight)
    if scale is not None:
        return y * scale if noise is None else torch.addcmul(noise.to(y.dtype), y, scale)
    return y if noise is None else y.add_(noise)


def convolve_modulated(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool = True,
                       per_sample_filters: bool = False, up: int = 1, padding: int = 0,
                       resample_filter: Optional[torch.Tensor] = None,
                       flip_weight: bool = True) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """``modulated_conv2d`` without the noise, and possibly without the demodulation: (y, scale).

    ``scale`` [N, O, 1, 1] is the demodulation still to be applied (``y * scale``) when the activations
    were modulated, so that the caller can fold it into what it does next; None otherwise.
    """
    if demodulate and x.dtype in _LOW_PRECISION:
        # Demodulation cancels any positive scale of a style vector or of a filter, so normalise both
        # first: then |x * s| <= |x| and, by Cauchy-Schwarz, each output is at most the norm of its input
        # patch -- nothing overflows in half precision.
        styles = styles / styles.abs().amax(dim=1, keepdim=True)
        weight = weight / weight.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
    coefficients = demodulation(weight, styles) if demodulate else None
    if weight.shape[2:] == (1, 1) and up == 1 and padding == 0:
        return _pointwise(x, weight, styles, coefficients), None
    if per_sample_filters:
        return _grouped(x, weight, styles, coefficients, up, padding, resample_filter, flip_weight), None
    x = x * styles.to(x.dtype)[:, :, None, None]
    y = ops.conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, padding=padding, flip_weight=flip_weight)
    return y, None if coefficients is None else coefficients.to(y.dtype)[:, :, None, None]


def _per_sample_filters(weight, styles, coefficients) -> torch.Tensor:
    """W * s[n] (* d[n]) for every sample: [N, O, I, k, k] in float32."""
    filters = weight[None] * styles[:, None, :, None, None]
    if coefficients is not None:
        filters = filters * coefficients[:, :, None, None, None]
    return filters


def _pointwise(x, weight, styles, coefficients) -> torch.Tensor:
    batch, channels, height, width = x.shape
    matrices = _per_sample_filters(weight, styles, coefficients).flatten(2).to(x.dtype)  # [N, O, I]
    if x.is_contiguous():  # each channel is a row: [N, I, H * W] -> [N, O, H * W]
        return torch.bmm(matrices, x.reshape(batch, channels, height * width)).reshape(batch, -1, height, width)
    # channels-last (or other layouts): each pixel is a row, [N, H * W, I] -> [N, H * W, O], no copy of x
    pixels = x.permute(0, 2, 3, 1).reshape(batch, height * width, channels)
    return torch.bmm(pixels, matrices.transpose(1, 2)).reshape(batch, height, width, -1).permute(0, 3, 1, 2)


def _grouped(x, weight, styles, coefficients, up, padding, resample_filter, flip_weight) -> torch.Tensor:
    """The batch as the groups of one convolution: [1, N * I, H, W] with N * O filters."""
    batch = x.shape[0]
    filters = _per_sample_filters(weight, styles, coefficients).flatten(0, 1).to(x.dtype)  # [N * O, I, k, k]
    y = ops.conv2d_resample(x.reshape(1, -1, *x.shape[2:]), filters, resample_filter, up=up, padding=padding,
                            groups=batch, flip_weight=flip_weight)
    return y.reshape(batch, -1, *y.shape[2:])
