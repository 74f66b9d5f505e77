"""Building blocks of the StyleGAN2 generator.

Every layer stores unscaled weights and multiplies by a constant gain at run time ("equalised learning
rate"), so the parameter names, shapes and values are those of the official stylegan2-ada-pytorch
networks and an official state dict loads unchanged. The arithmetic follows the official order of
operations so that results agree to float32 rounding.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

from generators import ops
from generators.ops.activation import ACTIVATIONS


def activation_gain(activation: str) -> float:
    """The gain that keeps unit variance through ``activation`` (the official ``def_gain``); layers multiply
    it by their own extra gain (e.g. sqrt(1/2) in residual blocks) before calling ``bias_act``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[activation].gain


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale each vector to unit root-mean-square: the mapping network's input normalisation."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                     noise: Optional[torch.Tensor] = None, up: int = 1, padding: int = 0,
                     resample_filter: Optional[torch.Tensor] = None, demodulate: bool = True,
                     flip_weight: bool = True, fused: bool = True) -> torch.Tensor:
    """Convolution whose input channels are scaled per sample by ``styles`` (then optionally
    renormalised per output channel), plus optional additive ``noise``.

    ``fused`` runs it as one grouped convolution with per-sample weights (fast at inference on CUDA);
    otherwise the activations are scaled before and after a shared convolution (cheaper to train, and
    faster on CPU). Both give the same result up to rounding.
    """
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape

    if x.dtype == torch.float16 and demodulate:
        # Bring weights and styles to O(1) first: demodulation cancels the scale, fp16 would overflow.
        weight = weight * (1 / math.sqrt(in_channels * kh * kw)
                           / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = None
    dcoefs = None
    if demodulate or fused:
        w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)  # [N, O, I, k, k]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
    if demodulate and fused:
        w = w * dcoefs.reshape(batch, -1, 1, 1, 1)

    if not fused:
        x = x * styles.to(x.dtype).reshape(batch, -1, 1, 1)
        x = ops.conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, padding=padding,
                                flip_weight=flip_weight)
        if demodulate and noise is not None:
            return torch.addcmul(noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(batch, -1, 1, 1))
        if demodulate:
            return x * dcoefs.to(x.dtype).reshape(batch, -1, 1, 1)
        if noise is not None:
            return x + noise.to(x.dtype)
        return x

    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = ops.conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, padding=padding, groups=batch,
                            flip_weight=flip_weight)
    x = x.reshape(batch, -1, *x.shape[2:])
    if noise is not None:
        # Added in float32 then rounded, as an in-place add into an fp16 tensor would do.
        x = (x + noise).to(x.dtype)
    return x


class FullyConnected(nn.Module):
    """Dense layer with equalised learning rate; ``lr_multiplier`` slows the mapping network down."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        activation_gain(activation)  # validate early
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        if bias:
            self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        else:
            self.register_parameter("bias", None)
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return ops.bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self) -> str:
        out_features, in_features = self.weight.shape
        return f"in_features={in_features}, out_features={out_features}, activation={self.activation}"


class EqualizedConv2d(nn.Module):
    """Plain (unmodulated) convolution with optional FIR-filtered resampling.

    The generator uses it only as the 1x1 upsampling shortcut of residual blocks.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1,
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None):
        super().__init__()
        self.activation = activation
        self.act_gain = activation_gain(activation)
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if bias:
            self.bias = nn.Parameter(torch.zeros([out_channels]))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        x = ops.conv2d_resample(x, w.to(x.dtype), f=self.resample_filter, up=self.up, down=self.down,
                                padding=self.padding, flip_weight=(self.up == 1))
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return ops.bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class StyleConv(nn.Module):
    """Modulated 3x3 convolution + per-pixel noise + bias + activation: one W+ entry each.

    ``noise_const`` is the fixed noise map used by ``noise_mode='const'``; ``noise_strength`` scales
    whichever map is used.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 kernel_size: int = 3, up: int = 1, use_noise: bool = True, activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None):
        super().__init__()
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.act_gain = activation_gain(activation)
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def noise_map(self, x: torch.Tensor, noise_mode: str,
                  noise: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """The scaled noise to add, or None. An explicit ``noise`` replaces the stored/random map."""
        if not self.use_noise or noise_mode == "none":
            return None
        if noise is not None:
            return noise * self.noise_strength
        if noise_mode == "random":
            return torch.randn([x.shape[0], 1, self.resolution, self.resolution],
                               device=x.device) * self.noise_strength
        return self.noise_const * self.noise_strength

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const",
                noise: Optional[torch.Tensor] = None, fused: bool = True, gain: float = 1.0) -> torch.Tensor:
        styles = self.affine(w)
        x = modulated_conv2d(x, self.weight, styles, noise=self.noise_map(x, noise_mode, noise), up=self.up,
                             padding=self.padding, resample_filter=self.resample_filter,
                             flip_weight=(self.up == 1), fused=fused)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return ops.bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain * gain,
                            clamp=clamp)


class ToRGB(nn.Module):
    """Modulated 1x1 convolution (no demodulation) from features to image channels."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: Optional[float] = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return ops.bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)
