"""Equalised-learning-rate layers: the dense and convolution layers every StyleGAN2 network is built from.

Weights are stored as N(0, 1) draws and multiplied by ``1 / sqrt(fan_in)`` on every call instead of at
initialisation. The forward pass is the same as with He initialisation, but Adam's per-parameter steps now
move every layer at the same relative speed. ``lr_multiplier`` slows a layer further (the mapping network
uses 0.01) by storing ``weight / lr`` and multiplying by ``lr`` at run time. Stored values, names and
shapes are those of the official networks, so their state dicts load unchanged.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from generators import ops
from generators.ops.activation import activation


def activation_gain(name: str) -> float:
    """The gain that keeps unit variance through activation ``name`` (sqrt 2 for the rectifiers)."""
    return activation(name).gain


def unit_rms(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """x scaled to unit root-mean-square along ``dim``: the mapping network's input normalisation."""
    return x * x.square().mean(dim=dim, keepdim=True).add(eps).rsqrt()


class EqualizedLinear(nn.Module):
    """Dense layer ``act(x @ W.T * lr / sqrt(fan_in) + b * lr)`` on [N, in_features] inputs."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        activation_gain(activation)  # reject unknown names now rather than at the first forward pass
        self.activation = activation
        self.weight_scale = lr_multiplier / math.sqrt(in_features)
        self.bias_scale = lr_multiplier
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.to(x.dtype)
        if self.bias is None:
            y = F.linear(x, weight) * self.weight_scale
        else:  # the scales ride along as addmm's alpha and beta: no scaled copy of the weight
            y = torch.addmm(self.bias.to(x.dtype), x, weight.t(), beta=self.bias_scale, alpha=self.weight_scale)
        return y if self.activation == "linear" else ops.bias_act(y, act=self.activation)

    def extra_repr(self) -> str:
        out_features, in_features = self.weight.shape
        return f"in_features={in_features}, out_features={out_features}, activation={self.activation}"


class EqualizedConv2d(nn.Module):
    """Convolution with optional 2x FIR resampling, bias, activation and clamp (no style modulation).

    The discriminator is made of these; the generator uses one as the resampling shortcut of its residual
    blocks. ``forward(x, gain)`` scales the output (and the clamp) by an extra ``gain``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1,
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None):
        super().__init__()
        self.activation = activation
        self.activation_gain = activation_gain(activation)
        self.up, self.down = up, down
        self.padding = kernel_size // 2
        self.conv_clamp = conv_clamp
        self.weight_scale = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        weight = (self.weight * self.weight_scale).to(x.dtype)
        # Upsampling layers convolve (the official weights were trained that way); the rest correlate.
        y = ops.conv2d_resample(x, weight, self.resample_filter, up=self.up, down=self.down, padding=self.padding,
                                flip_weight=self.up == 1)
        bias = None if self.bias is None else self.bias.to(y.dtype)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return ops.bias_act(y, bias, act=self.activation, gain=self.activation_gain * gain, clamp=clamp)
