"""Fused bias + activation + gain + clamp, the op behind every StyleGAN2 layer's nonlinearity.

The reference path is plain PyTorch (autograd gives every derivative order). The CUDA path runs one
elementwise kernel; its backward is the same kernel in "gradient" mode and is itself differentiable, so
double backward (needed by R1 regularisation) works on both paths.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from . import plugin
from .dispatch import choose_impl


@dataclass(frozen=True)
class Activation:
    func: Callable  # (x, alpha) -> y, the reference definition
    default_alpha: float
    default_gain: float
    code: int  # activation id understood by the CUDA kernel
    has_second_grad: bool  # False when the second derivative is zero almost everywhere


ACTIVATIONS = {
    "linear": Activation(lambda x, alpha: x, 0.0, 1.0, 0, False),
    "relu": Activation(lambda x, alpha: F.relu(x), 0.0, math.sqrt(2), 1, False),
    "lrelu": Activation(lambda x, alpha: F.leaky_relu(x, alpha), 0.2, math.sqrt(2), 2, False),
    "tanh": Activation(lambda x, alpha: torch.tanh(x), 0.0, 1.0, 3, True),
    "sigmoid": Activation(lambda x, alpha: torch.sigmoid(x), 0.0, 1.0, 4, True),
    "elu": Activation(lambda x, alpha: F.elu(x), 0.0, 1.0, 5, True),
    "selu": Activation(lambda x, alpha: F.selu(x), 0.0, 1.0, 6, True),
    "softplus": Activation(lambda x, alpha: F.softplus(x), 0.0, 1.0, 7, True),
    # Same default gain as the official implementation (sqrt 2), so ported networks behave identically.
    "swish": Activation(lambda x, alpha: torch.sigmoid(x) * x, 0.0, math.sqrt(2), 8, True),
}


def bias_act(x: torch.Tensor, b: Optional[torch.Tensor] = None, dim: int = 1, act: str = "linear",
             alpha: Optional[float] = None, gain: Optional[float] = None, clamp: Optional[float] = None,
             impl: Optional[str] = None) -> torch.Tensor:
    """``clamp(act(x + b) * gain)``; ``b`` runs along dimension ``dim`` of ``x``.

    ``alpha``/``gain`` default per activation (lrelu: alpha 0.2; relu, lrelu, swish: gain sqrt 2; others
    gain 1); ``clamp`` limits the output to [-clamp, clamp]. The result has the shape and dtype of ``x``.
    ``impl``: None (CUDA kernel for CUDA tensors when it builds), 'ref' or 'cuda'.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"bias_act: x must be a torch.Tensor, got {type(x).__name__}")
    if act not in ACTIVATIONS:
        raise ValueError(f"bias_act: unknown act {act!r}; choose one of {sorted(ACTIVATIONS)}")
    spec = ACTIVATIONS[act]
    alpha = float(alpha if alpha is not None else spec.default_alpha)
    gain = float(gain if gain is not None else spec.default_gain)
    if clamp is not None and not clamp >= 0:
        raise ValueError(f"bias_act: clamp must be None or >= 0, got {clamp}")
    clamp = float(clamp) if clamp is not None else -1.0
    if b is not None:
        if not isinstance(b, torch.Tensor) or b.ndim != 1:
            raise ValueError(f"bias_act: b must be a 1-D tensor, got {getattr(b, 'shape', type(b))}")
        if not 0 <= dim < x.ndim:
            raise ValueError(f"bias_act: dim={dim} is out of range for x with {x.ndim} dimensions")
        if b.shape[0] != x.shape[dim]:
            raise ValueError(f"bias_act: b has {b.shape[0]} elements but x.shape[{dim}] is {x.shape[dim]}")
        if b.device != x.device:
            raise ValueError(f"bias_act: b is on {b.device} but x is on {x.device}")
        b = b.to(x.dtype)
    if choose_impl(x, impl, "bias_act") == "cuda" and x.dtype in _KERNEL_DTYPES:
        return _bias_act_cuda(x, b, dim, spec, alpha, gain, clamp)
    return _bias_act_ref(x, b, dim, spec, alpha, gain, clamp)


def _bias_act_ref(x, b, dim, spec: Activation, alpha: float, gain: float, clamp: float) -> torch.Tensor:
    if b is not None:
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


# -- CUDA path -----------------------------------------------------------------------------------
_KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_FORWARD, _GRAD, _SECOND_GRAD = 0, 1, 2
_EMPTY = {}


def _empty_like(x: torch.Tensor) -> torch.Tensor:
    key = (x.device, x.dtype)
    if key not in _EMPTY:
        _EMPTY[key] = torch.empty([0], device=x.device, dtype=x.dtype)
    return _EMPTY[key]


def _dense(x: torch.Tensor) -> torch.Tensor:
    """x itself when its memory is one dense block (contiguous or channels-last), else a contiguous copy."""
    if x.is_contiguous() or (x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last)):
        return x
    return x.contiguous()


def _like_layout(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """t laid out in memory exactly like ref, so both share one linear index in the kernel."""
    if ref.is_contiguous():
        return t.contiguous()
    return t.contiguous(memory_format=torch.channels_last)


def _reduce_to_bias(t: torch.Tensor, dim: int) -> torch.Tensor:
    return t.sum([i for i in range(t.ndim) if i != dim])


class _Config:
    """The non-tensor arguments, bundled so the autograd functions can pass them along."""

    def __init__(self, dim: int, spec: Activation, alpha: float, gain: float, clamp: float):
        self.dim, self.spec, self.alpha, self.gain, self.clamp = dim, spec, alpha, gain, clamp

    def run(self, mode: int, x, b, g1, g2):
        return plugin.get().bias_act(x, b, g1, g2, mode, self.dim, self.spec.code, self.alpha, self.gain,
                                     self.clamp)

    @property
    def derivative_is_constant(self) -> bool:
        return self.spec.code == 0 and self.clamp < 0


class _BiasActCuda(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, b, cfg: _Config):
        x = _dense(x)
        empty = _empty_like(x)
        b = b.contiguous() if b is not None else empty
        y = cfg.run(_FORWARD, x, b, empty, empty)
        ctx.cfg = cfg
        ctx.save_for_backward(*((empty, empty) if cfg.derivative_is_constant else (x, b)))
        return y

    @staticmethod
    def backward(ctx, dy):
        cfg = ctx.cfg
        x, b = ctx.saved_tensors
        dx = db = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            if cfg.derivative_is_constant:
                dx = dy * cfg.gain if cfg.gain != 1 else dy
            else:
                dx = _BiasActCudaGrad.apply(_like_layout(dy, x), x, b, cfg)
        if ctx.needs_input_grad[1]:
            db = _reduce_to_bias(dx, cfg.dim)
        return dx, db, None


class _BiasActCudaGrad(torch.autograd.Function):
    """dx = dy * gain * act'(x + b) * [output not clamped]; differentiable once more."""

    @staticmethod
    def forward(ctx, dy, x, b, cfg: _Config):
        dx = cfg.run(_GRAD, x, b, dy, _empty_like(x))
        ctx.cfg = cfg
        ctx.save_for_backward(dy if cfg.spec.has_second_grad else _empty_like(x), x, b)
        return dx

    @staticmethod
    def backward(ctx, d_dx):
        cfg = ctx.cfg
        dy, x, b = ctx.saved_tensors
        d_dx = _like_layout(d_dx, x)
        d_dy = d_x = d_b = None
        if ctx.needs_input_grad[0]:
            d_dy = _BiasActCudaGrad.apply(d_dx, x, b, cfg)
        if cfg.spec.has_second_grad and (ctx.needs_input_grad[1] or ctx.needs_input_grad[2]):
            d_x = _BiasActCudaSecondGrad.apply(d_dx, dy, x, b, cfg)
            if ctx.needs_input_grad[2]:
                d_b = _reduce_to_bias(d_x, cfg.dim)
        return d_dy, d_x, d_b, None


class _BiasActCudaSecondGrad(torch.autograd.Function):
    """d_dx * dy * gain * act''(x + b) * [output not clamped]; the end of the derivative chain."""

    @staticmethod
    def forward(ctx, d_dx, dy, x, b, cfg: _Config):
        return cfg.run(_SECOND_GRAD, x, b, d_dx, dy)

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("bias_act: third-order gradients are not supported on the CUDA path; "
                                  "use impl='ref' (or CFGAN_OPS_IMPL=ref)")


def _bias_act_cuda(x, b, dim, spec: Activation, alpha: float, gain: float, clamp: float) -> torch.Tensor:
    if b is None and spec.code == 0 and gain == 1 and clamp < 0:
        return x  # nothing to do; the reference path would return an equal tensor
    return _BiasActCuda.apply(x, b, _Config(dim, spec, alpha, gain, clamp))
