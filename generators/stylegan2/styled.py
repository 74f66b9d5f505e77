"""The two layers that read a W code: a styled 3x3 convolution (with noise) and the styled 1x1 ``ToRGB``.

Each turns its W entry into per-channel styles with a dense "affine" layer (bias initialised to 1, so a
fresh network starts unmodulated), then calls ``modulated_conv2d``. Parameter and buffer names follow the
official networks, and they are registered in the official order, so ``state_dict()`` lists the same keys
in the same order.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

from generators import ops
from generators.ops.activation import activation
from generators.stylegan2.layers import EqualizedLinear, activation_gain
from generators.stylegan2.modulation import convolve_modulated, modulated_conv2d

NOISE_MODES = ("const", "random", "none")


class StyledConv(nn.Module):
    """Modulated, demodulated convolution (optionally 2x upsampling), per-pixel noise, bias, activation.

    The noise is one [H, W] map per sample shared by all channels, scaled by the learned
    ``noise_strength``: the stored ``noise_const`` ('const'), a fresh draw ('random') or none ('none').
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None):
        super().__init__()
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.noise_strength = nn.Parameter(torch.zeros([])) if use_noise else None
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        self.register_buffer("noise_const", torch.randn([resolution, resolution]) if use_noise else None)
        # settings: the geometry of the convolution, then what follows it
        self.up, self.padding, self.resolution = up, kernel_size // 2, resolution
        self.use_noise, self.activation, self.conv_clamp = use_noise, activation, conv_clamp
        self.activation_gain = activation_gain(activation)

    def scaled_noise(self, batch: int, device, noise_mode: str,
                     noise: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """The noise to add, already scaled; an explicit ``noise`` map replaces the stored or random one."""
        if not self.use_noise or noise_mode == "none":
            return None
        if noise is None and noise_mode == "random":
            noise = torch.randn([batch, 1, self.resolution, self.resolution], device=device)
        elif noise is None:
            noise = self.noise_const
        return noise * self.noise_strength

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const",
                noise: Optional[torch.Tensor] = None, fused: bool = False, gain: float = 1.0) -> torch.Tensor:
        y, scale = convolve_modulated(x, self.weight, self.affine(w), demodulate=True, per_sample_filters=fused,
                                      up=self.up, padding=self.padding, resample_filter=self.resample_filter,
                                      flip_weight=self.up == 1)
        noise = self.scaled_noise(x.shape[0], x.device, noise_mode, noise)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return _finish(y, scale, noise, self.bias.to(y.dtype), self.activation, self.activation_gain * gain, clamp)


def _finish(y, scale, noise, bias, act: str, gain: float, clamp: Optional[float]) -> torch.Tensor:
    """clamp(act(y * scale + noise + bias) * gain), with ``scale`` (the pending demodulation) or ``noise``
    possibly None."""
    spec = activation(act)
    if scale is not None and spec.homogeneous and gain > 0:
        # For the rectifiers act(s) * gain == act(s * gain): the demodulation, noise, bias and gain make one
        # multiply-add over the features, and the activation runs in place.
        shift = bias[:, None, None] * gain
        if noise is not None:
            shift = torch.add(shift, noise.to(y.dtype), alpha=gain)
        y = spec.apply(torch.addcmul(shift, y, scale * gain), spec.alpha, True)
        return y if clamp is None else y.clamp(-clamp, clamp)
    if scale is not None:
        y = y * scale if noise is None else torch.addcmul(noise.to(y.dtype), y, scale)
    elif noise is not None:
        y = y.add_(noise)
    return ops.bias_act(y, bias, act=act, gain=gain, clamp=clamp)


class ToRGB(nn.Module):
    """Modulated 1x1 convolution to image channels, without demodulation (the image scale is learned)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: Optional[float] = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        # Without demodulation the equalised-lr scale must be applied explicitly; it goes on the styles.
        self.style_scale = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = False) -> torch.Tensor:
        styles = self.affine(w) * self.style_scale
        y = modulated_conv2d(x, self.weight, styles, demodulate=False, per_sample_filters=fused,
                             padding=self.padding)
        return ops.bias_act(y, self.bias.to(y.dtype), clamp=self.conv_clamp)
