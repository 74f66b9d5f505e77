"""FIR resampling of image batches: ``upfirdn2d`` and the three shapes StyleGAN2 uses it in.

Per channel and per axis, upfirdn2d inserts ``up - 1`` zeros after every sample, pads (negative amounts
crop), convolves with an FIR filter and keeps every ``down``-th sample; its anti-aliasing is what keeps
the generator smooth enough to invert. The reference path never builds the zero-stuffed image: a
transposed convolution with stride ``up`` *is* "insert zeros, then convolve", and it only multiplies the
taps that meet a real sample (the polyphase form). Decimation is the stride of an ordinary convolution.
A 1-D filter is applied along x, then along y.
"""
from __future__ import annotations

import operator
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from . import plugin
from .dispatch import choose_impl

IntOrPair = Union[int, Sequence[int]]
Padding = Union[int, Sequence[int]]


class Axis(NamedTuple):
    """What upfirdn2d does along one image axis; padding counts samples of the upsampled signal."""

    up: int = 1
    down: int = 1
    before: int = 0
    after: int = 0

    def output_length(self, length: int, taps: int) -> int:
        return (length * self.up + self.before + self.after - taps) // self.down + 1

    def adjoint(self, length: int, taps: int) -> "Axis":
        """The axis of the gradient: it spreads each output back over the inputs under its footprint,
        which is upfirdn2d again with the filter mirrored, ``up`` and ``down`` swapped, and padding that
        makes the result exactly ``length`` long."""
        out = self.output_length(length, taps)
        before = taps - 1 - self.before
        return Axis(self.down, self.up, before, length * self.up - out * self.down - before + taps - self.up)


# -- argument parsing ------------------------------------------------------------------------------
def _integer(value, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be an integer, got {value!r}") from None


def parse_scaling(factor: IntOrPair, what: str = "scaling") -> Tuple[int, int]:
    """An int or [x, y] -> (x, y), both at least 1."""
    pair = list(factor) if isinstance(factor, (list, tuple)) else [factor, factor]
    if len(pair) != 2:
        raise ValueError(f"{what} must be an int or [x, y], got {factor!r}")
    fx, fy = (_integer(v, what) for v in pair)
    if min(fx, fy) < 1:
        raise ValueError(f"{what} factors must be >= 1, got {factor!r}")
    return fx, fy


def parse_padding(padding: Padding) -> Tuple[int, int, int, int]:
    """An int, [x, y] or [x_before, x_after, y_before, y_after] -> the four numbers; negative crops."""
    given = list(padding) if isinstance(padding, (list, tuple)) else [padding]
    if len(given) not in (1, 2, 4):
        raise ValueError(f"padding must be an int, [x, y] or [x0, x1, y0, y1], got {padding!r}")
    given = [_integer(v, "padding") for v in given]
    if len(given) == 4:
        return tuple(given)
    px, py = given if len(given) == 2 else given * 2
    return px, px, py, py


def filter_size(f: Optional[torch.Tensor]) -> Tuple[int, int]:
    """(width, height) of a filter from ``setup_filter``: a 1-D filter is as tall as it is wide."""
    if f is None:
        return 1, 1
    if not isinstance(f, torch.Tensor) or f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"filter f must be None or a non-empty 1-D/2-D tensor, got {getattr(f, 'shape', f)}")
    return int(f.shape[-1]), int(f.shape[0])


def centring_padding(taps: int, up: int = 1, down: int = 1) -> Tuple[int, int]:
    """(before, after) padding that keeps an image resampled by ``up`` or ``down`` with a ``taps``-long
    filter aligned with the original grid, so the output has exactly ``up`` or ``1 / down`` times as many
    samples. Upsampling pads ``taps - 1`` in total, downsampling ``taps - down``; odd totals put the extra
    sample before."""
    if up > 1:
        return (taps + up - 1) // 2, (taps - up) // 2
    return (taps - down + 1) // 2, (taps - down) // 2


# -- filters ---------------------------------------------------------------------------------------
def setup_filter(f, device=torch.device("cpu"), normalize: bool = True, flip_filter: bool = False,
                 gain: float = 1, separable: Optional[bool] = None) -> torch.Tensor:
    """An FIR filter ready for upfirdn2d, as float32 [taps] (separable) or [height, width].

    ``f`` is a list, array or tensor: [taps], [height, width], a scalar, or None (the identity).
    ``normalize`` divides by the sum of the taps, so a constant image keeps its value; ``gain`` then scales
    the whole filter. By default 1-D filters of 8 or more taps stay separable; shorter ones become the
    outer product with themselves. The caller's data is never modified.
    """
    taps = torch.tensor(1.0) if f is None else torch.as_tensor(f, dtype=torch.float32)
    taps = taps.detach().to("cpu", torch.float32, copy=True)
    if taps.ndim > 2 or taps.numel() == 0:
        raise ValueError(f"setup_filter: f must be a scalar, [taps] or [h, w] and non-empty, got shape "
                         f"{tuple(taps.shape)}")
    taps = taps.reshape(-1) if taps.ndim == 0 else taps
    if separable is None:
        separable = taps.ndim == 1 and taps.numel() >= 8
    if separable and taps.ndim != 1:
        raise ValueError("setup_filter: separable=True needs a 1-D filter")
    if not separable and taps.ndim == 1:
        taps = taps[:, None] * taps[None, :]
    if normalize:
        total = taps.sum()
        if total == 0:
            raise ValueError("setup_filter: cannot normalize a filter whose taps sum to 0")
        taps = taps / total
    if flip_filter:
        taps = taps.flip(list(range(taps.ndim)))
    return (taps * gain ** (taps.ndim / 2)).to(device)


def _as_filter(x: torch.Tensor, f: Optional[torch.Tensor]) -> torch.Tensor:
    """Validate ``x`` and ``f`` for upfirdn2d; None becomes the 1x1 identity filter."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"upfirdn2d: x must be a 4-D [N, C, H, W] tensor, got {getattr(x, 'shape', type(x))}")
    if not x.is_floating_point():
        raise ValueError(f"upfirdn2d: x must be floating point, got {x.dtype}")
    if f is None:
        return torch.ones([1, 1], dtype=torch.float32, device=x.device)
    filter_size(f)
    if not f.is_floating_point():
        raise ValueError(f"upfirdn2d: filter f must be floating point, got {f.dtype}")
    if f.requires_grad:
        raise ValueError("upfirdn2d: gradients with respect to the filter are not supported; pass f.detach()")
    if f.device != x.device:
        raise ValueError(f"upfirdn2d: filter f is on {f.device} but x is on {x.device}")
    return f


# -- the op ----------------------------------------------------------------------------------------
def upfirdn2d(x: torch.Tensor, f: Optional[torch.Tensor], up: IntOrPair = 1, down: IntOrPair = 1,
              padding: Padding = 0, flip_filter: bool = False, gain: float = 1,
              impl: Optional[str] = None) -> torch.Tensor:
    """Upsample by zero insertion, pad, FIR-filter and downsample each channel of x [N, C, H, W].

    ``padding`` counts upsampled samples; negative values crop. ``f``: [h, w], [taps] (separable, applied
    along x then y) or None. The filter is convolved with the image (``flip_filter=True``: correlated) and
    scaled by ``gain``. ``impl``: None (CUDA kernel for CUDA tensors when it builds), 'ref' or 'cuda'.
    """
    f = _as_filter(x, f)
    (upx, upy), (downx, downy) = parse_scaling(up, "up"), parse_scaling(down, "down")
    x0, x1, y0, y1 = parse_padding(padding)
    ax, ay = Axis(upx, downx, x0, x1), Axis(upy, downy, y0, y1)
    fw, fh = filter_size(f)
    width, height = ax.output_length(x.shape[3], fw), ay.output_length(x.shape[2], fh)
    if width < 1 or height < 1:
        raise ValueError(f"upfirdn2d: output would be empty ({height}x{width}) for input {tuple(x.shape)}, "
                         f"filter {tuple(f.shape)}, up={up}, down={down}, padding={padding}")
    if choose_impl(x, impl, "upfirdn2d") == "cuda" and x.dtype in _KERNEL_DTYPES:
        return _KernelUpfirdn2d.apply(x, f, ax, ay, bool(flip_filter), float(gain))
    return _reference(x, f, ax, ay, bool(flip_filter), float(gain))


def _reference(x, f, ax: Axis, ay: Axis, flip_filter: bool, gain: float) -> torch.Tensor:
    kernel = (f * gain ** (f.ndim / 2)).to(x.dtype)
    if kernel.ndim == 2:
        return _fir_pass(x, kernel, ax, ay, flip_filter)
    x = _fir_pass(x, kernel[None, :], ax, Axis(), flip_filter)
    return _fir_pass(x, kernel[:, None], Axis(), ay, flip_filter)


def _fir_pass(x, kernel: torch.Tensor, ax: Axis, ay: Axis, flip_filter: bool) -> torch.Tensor:
    """upfirdn2d with a 2-D kernel (a [1, k] or [k, 1] kernel filters one axis only)."""
    channels = x.shape[1]
    kh, kw = kernel.shape
    if ax.up == 1 and ay.up == 1:
        # Pad, then correlate (conv2d's operation) with the mirrored filter; stride = decimation.
        weight = (kernel if flip_filter else kernel.flip([0, 1])).expand(channels, 1, kh, kw)
        x, padding = _pad_unless_symmetric(x, [ax.before, ax.after, ay.before, ay.after])
        return F.conv2d(x, weight, stride=(ay.down, ax.down), padding=padding, groups=channels)
    # conv_transpose2d(x, k, stride=up) is the full convolution of the zero-stuffed image with k, defined
    # from ``taps - 1`` samples before the first one; move that window onto the requested padding.
    weight = (kernel.flip([0, 1]) if flip_filter else kernel).expand(channels, 1, kh, kw)
    window = [ax.before + 1 - kw, ax.after + ax.up - kw, ay.before + 1 - kh, ay.after + ay.up - kh]
    if window[0] == window[1] <= 0 and window[2] == window[3] <= 0:  # a symmetric crop: the conv does it
        x = F.conv_transpose2d(x, weight, stride=(ay.up, ax.up), padding=(-window[2], -window[0]), groups=channels)
    else:
        x = F.pad(F.conv_transpose2d(x, weight, stride=(ay.up, ax.up), groups=channels), window)
    if ax.down > 1 or ay.down > 1:
        x = x[:, :, ::ay.down, ::ax.down]
    return x


def _pad_unless_symmetric(x: torch.Tensor, pad):
    """(x, conv padding): symmetric non-negative padding is left to the convolution (no copy of x)."""
    x0, x1, y0, y1 = pad
    if x0 == x1 >= 0 and y0 == y1 >= 0:
        return x, (y0, x0)
    return F.pad(x, pad), (0, 0)


# -- CUDA path -------------------------------------------------------------------------------------
_KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


class _KernelUpfirdn2d(torch.autograd.Function):
    """The compiled kernel, differentiable to any order: the gradient is upfirdn2d on the adjoint axes."""

    @staticmethod
    def forward(ctx, x, f, ax: Axis, ay: Axis, flip_filter: bool, gain: float):
        ctx.save_for_backward(f)
        ctx.setup = (ax, ay, flip_filter, gain, x.shape[3], x.shape[2])
        # The kernel correlates with float taps in its accumulation type: mirror unless flip_filter, and
        # round to x's dtype first so that both paths multiply by the same numbers.
        taps = (f * gain ** (f.ndim / 2)).to(x.dtype)
        taps = (taps if flip_filter else taps.flip(list(range(taps.ndim))))
        taps = taps.to(torch.float64 if x.dtype == torch.float64 else torch.float32).contiguous()
        run = plugin.get().upfirdn2d
        if taps.ndim == 2:
            return run(x, taps, *ax, *ay)
        x = run(x, taps[None, :], *ax, *Axis())
        return run(x, taps[:, None], *Axis(), *ay)

    @staticmethod
    def backward(ctx, dy):
        f, = ctx.saved_tensors
        ax, ay, flip_filter, gain, width, height = ctx.setup
        if not ctx.needs_input_grad[0]:
            return (None,) * 6
        fw, fh = filter_size(f)
        dx = _KernelUpfirdn2d.apply(dy, f, ax.adjoint(width, fw), ay.adjoint(height, fh), not flip_filter, gain)
        return dx, None, None, None, None, None


# -- the padding conventions StyleGAN2 uses --------------------------------------------------------
def filter2d(x: torch.Tensor, f: Optional[torch.Tensor], padding: Padding = 0, flip_filter: bool = False,
             gain: float = 1, impl: Optional[str] = None) -> torch.Tensor:
    """Filter without changing the image size; ``padding`` (counted on the output) comes on top."""
    return _centred(x, f, 1, 1, padding, flip_filter, gain, impl)


def upsample2d(x: torch.Tensor, f: Optional[torch.Tensor], up: IntOrPair = 2, padding: Padding = 0,
               flip_filter: bool = False, gain: float = 1, impl: Optional[str] = None) -> torch.Tensor:
    """Upsample by ``up``: the output is exactly ``up`` times larger (plus ``padding``). The filter is
    scaled by up_x * up_y to make up for the inserted zeros."""
    return _centred(x, f, parse_scaling(up, "up"), 1, padding, flip_filter, gain, impl)


def downsample2d(x: torch.Tensor, f: Optional[torch.Tensor], down: IntOrPair = 2, padding: Padding = 0,
                 flip_filter: bool = False, gain: float = 1, impl: Optional[str] = None) -> torch.Tensor:
    """Downsample by ``down``: the output is exactly ``down`` times smaller (plus ``padding``)."""
    return _centred(x, f, 1, parse_scaling(down, "down"), padding, flip_filter, gain, impl)


def _centred(x, f, up, down, padding, flip_filter, gain, impl) -> torch.Tensor:
    (upx, upy), (downx, downy) = parse_scaling(up, "up"), parse_scaling(down, "down")
    fw, fh = filter_size(f)
    x0, x1 = centring_padding(fw, upx, downx)
    y0, y1 = centring_padding(fh, upy, downy)
    extra = parse_padding(padding)
    pad = [x0 + extra[0], x1 + extra[1], y0 + extra[2], y1 + extra[3]]
    return upfirdn2d(x, f, up=(upx, upy), down=(downx, downy), padding=pad, flip_filter=flip_filter,
                     gain=gain * upx * upy, impl=impl)
