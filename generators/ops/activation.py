"""``bias_act``: add a per-channel bias, apply a nonlinearity, scale, clamp -- every StyleGAN2 layer ends so.

The gain after the nonlinearity keeps activations at unit variance (sqrt 2 after a rectifier, which zeroes
half of the variance), and the clamp keeps float16 layers finite. Reference path: plain PyTorch, which
autograd differentiates to any order. For the rectifiers, ``act(s) * gain == act(gain * s)`` (gain > 0),
so the reference path scales while adding the bias and rectifies in place: two passes over the tensor
instead of three. CUDA path: one elementwise kernel that also evaluates the first and second derivatives,
enough for R1 regularisation's double backward.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch
import torch.nn.functional as F

from . import plugin
from .dispatch import choose_impl


@dataclass(frozen=True)
class Activation:
    """A nonlinearity and the facts the two paths need about it."""

    name: str
    kernel_id: int  # its number in cuda/bias_act.cu
    apply: Callable[[torch.Tensor, float, bool], torch.Tensor]  # (s, alpha, may_overwrite_s) -> act(s)
    gain: float = 1.0  # default gain: output variance = input variance for N(0, 1) inputs
    alpha: float = 0.0  # default shape parameter (the negative slope of lrelu)
    homogeneous: bool = False  # act(c * s) == c * act(s) for every c > 0
    curved: bool = True  # second derivative not zero almost everywhere


def _lrelu(s: torch.Tensor, alpha: float, inplace: bool) -> torch.Tensor:
    # autograd cannot invert an in-place leaky ReLU with a negative slope
    return F.leaky_relu(s, alpha, inplace=inplace and alpha >= 0)


_SQRT2 = math.sqrt(2)
ACTIVATIONS: Dict[str, Activation] = {a.name: a for a in (
    Activation("linear", 0, lambda s, alpha, inplace: s, homogeneous=True, curved=False),
    Activation("relu", 1, lambda s, alpha, inplace: F.relu(s, inplace=inplace), gain=_SQRT2, homogeneous=True,
               curved=False),
    Activation("lrelu", 2, _lrelu, gain=_SQRT2, alpha=0.2, homogeneous=True, curved=False),
    Activation("tanh", 3, lambda s, alpha, inplace: torch.tanh(s)),
    Activation("sigmoid", 4, lambda s, alpha, inplace: torch.sigmoid(s)),
    Activation("elu", 5, lambda s, alpha, inplace: F.elu(s)),
    Activation("selu", 6, lambda s, alpha, inplace: F.selu(s)),
    Activation("softplus", 7, lambda s, alpha, inplace: F.softplus(s)),
    # swish keeps the sqrt 2 gain of the networks it comes from, so their weights behave the same here
    Activation("swish", 8, lambda s, alpha, inplace: s * torch.sigmoid(s), gain=_SQRT2),
)}


def activation(name: str) -> Activation:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def bias_act(x: torch.Tensor, b: Optional[torch.Tensor] = None, dim: int = 1, act: str = "linear",
             alpha: Optional[float] = None, gain: Optional[float] = None, clamp: Optional[float] = None,
             impl: Optional[str] = None) -> torch.Tensor:
    """``clamp(act(x + b) * gain, -clamp, clamp)`` with ``b`` laid along dimension ``dim`` of ``x``.

    ``alpha`` and ``gain`` default per activation (lrelu: alpha 0.2; relu, lrelu and swish: gain sqrt 2;
    else 1); ``clamp=None`` does not clamp. The result has x's shape and dtype. ``impl``: None (CUDA kernel
    for CUDA tensors when it builds), 'ref' or 'cuda'.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"bias_act: x must be a torch.Tensor, got {type(x).__name__}")
    if act not in ACTIVATIONS:
        raise ValueError(f"bias_act: unknown act {act!r}; choose one of {sorted(ACTIVATIONS)}")
    spec = ACTIVATIONS[act]
    alpha = float(spec.alpha if alpha is None else alpha)
    gain = float(spec.gain if gain is None else gain)
    if clamp is not None and not clamp >= 0:
        raise ValueError(f"bias_act: clamp must be None or >= 0, got {clamp}")
    if b is not None:
        b = _checked_bias(x, b, dim)
    if choose_impl(x, impl, "bias_act") == "cuda" and x.dtype in _KERNEL_DTYPES:
        return _kernel_bias_act(x, b, dim, spec, alpha, gain, clamp)
    return _reference(x, b, dim, spec, alpha, gain, clamp)


def _checked_bias(x: torch.Tensor, b: torch.Tensor, dim: int) -> torch.Tensor:
    if not isinstance(b, torch.Tensor) or b.ndim != 1:
        raise ValueError(f"bias_act: b must be a 1-D tensor, got {getattr(b, 'shape', type(b))}")
    if not 0 <= dim < x.ndim:
        raise ValueError(f"bias_act: dim={dim} is out of range for x with {x.ndim} dimensions")
    if b.shape[0] != x.shape[dim]:
        raise ValueError(f"bias_act: b has {b.shape[0]} elements but x.shape[{dim}] is {x.shape[dim]}")
    if b.device != x.device:
        raise ValueError(f"bias_act: b is on {b.device} but x is on {x.device}")
    return b.to(x.dtype)


def _reference(x, b, dim, spec: Activation, alpha: float, gain: float, clamp: Optional[float]) -> torch.Tensor:
    scale_first = spec.homogeneous and gain > 0
    pre_scale = gain if scale_first else 1.0
    if b is not None:
        b = b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
        s = torch.add(b * pre_scale, x, alpha=pre_scale) if pre_scale != 1 else x + b
    else:
        s = x * pre_scale if pre_scale != 1 else x
    y = spec.apply(s, alpha, s is not x)  # s is a fresh tensor unless it is the caller's x
    if not scale_first and gain != 1:
        y = y * gain
    return y if clamp is None else y.clamp(-clamp, clamp)


# -- CUDA path -------------------------------------------------------------------------------------
_KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _dense(t: torch.Tensor) -> torch.Tensor:
    """t when its elements fill one block of memory (contiguous or channels-last), else a contiguous copy."""
    if t.is_contiguous() or (t.ndim == 4 and t.is_contiguous(memory_format=torch.channels_last)):
        return t
    return t.contiguous()


def _laid_out_like(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """t with ref's memory layout, so that one linear index addresses the same element in both."""
    if ref.is_contiguous():
        return t.contiguous()
    return t.contiguous(memory_format=torch.channels_last)


@dataclass(frozen=True)
class _Settings:
    dim: int
    spec: Activation
    alpha: float
    gain: float
    clamp: float  # negative: no clamp

    def launch(self, order: int, x, b, g1, g2) -> torch.Tensor:
        return plugin.get().bias_act(x, b, g1, g2, order, self.dim, self.spec.kernel_id, self.alpha, self.gain,
                                     self.clamp)

    def bias_grad(self, dx: torch.Tensor) -> torch.Tensor:
        return dx.sum([i for i in range(dx.ndim) if i != self.dim])


class _KernelDerivative(torch.autograd.Function):
    """Order 0: the op at s = x + b. Order 1: g1 times its derivative. Order 2: g1 * g2 times its second
    derivative. Each order's backward is the next order, so gradients of gradients come for free."""

    @staticmethod
    def forward(ctx, x, b, g1, g2, order: int, settings: _Settings):
        ctx.save_for_backward(x, b, g1, g2)
        ctx.order, ctx.settings = order, settings
        return settings.launch(order, x, b, g1, g2)

    @staticmethod
    def backward(ctx, grad):
        x, b, g1, g2 = ctx.saved_tensors
        order, settings = ctx.order, ctx.settings
        need_x, need_b, need_g1 = ctx.needs_input_grad[:3]
        grad = _laid_out_like(grad, x)
        dx = dg1 = db = None
        if order == 0 and (need_x or need_b):
            dx = _KernelDerivative.apply(x, b, grad, g2, 1, settings)
        elif order == 1:
            if need_g1:  # the first derivative is linear in g1
                dg1 = _KernelDerivative.apply(x, b, grad, g2, 1, settings)
            if settings.spec.curved and (need_x or need_b):
                dx = _KernelDerivative.apply(x, b, g1, grad, 2, settings)
        elif order == 2:
            raise NotImplementedError("bias_act: third-order gradients are not supported on the CUDA path; "
                                      "use impl='ref' (or CFGAN_OPS_IMPL=ref)")
        if need_b and dx is not None:
            db = settings.bias_grad(dx)
        return dx, db, dg1, None, None, None


def _kernel_bias_act(x, b, dim, spec: Activation, alpha: float, gain: float, clamp: Optional[float]):
    if b is None and spec.name == "linear" and gain == 1 and clamp is None:
        return x
    x = _dense(x)
    absent = x.new_empty([0])
    b = absent if b is None else b.contiguous()
    settings = _Settings(dim, spec, alpha, gain, -1.0 if clamp is None else float(clamp))
    return _KernelDerivative.apply(x, b, absent, absent, 0, settings)
