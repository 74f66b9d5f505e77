"""upfirdn2d: upsample (zero insertion), pad, FIR-filter and downsample a batch of images in one op.

StyleGAN2 resamples with it everywhere; its anti-aliasing filters are what make the generator alias-free
enough for inversion to work. The reference path is zero insertion + padding + a depthwise conv; the CUDA
kernel does the same sum directly, one thread per output pixel. The gradient of upfirdn2d is again an
upfirdn2d (flipped filter, up and down swapped, padding adjusted), so every derivative order is available.
"""
from __future__ import annotations

import operator
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F

from . import plugin
from .dispatch import choose_impl

IntOrPair = Union[int, Sequence[int]]
Padding = Union[int, Sequence[int]]


# -- argument parsing ----------------------------------------------------------------------------
def _as_int(value, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be an integer, got {value!r}") from None


def parse_scaling(scaling: IntOrPair, what: str = "scaling") -> tuple:
    """int or [x, y] -> (x, y), both >= 1."""
    values = [scaling, scaling] if not isinstance(scaling, (list, tuple)) else list(scaling)
    if len(values) != 2:
        raise ValueError(f"{what} must be an int or [x, y], got {scaling!r}")
    sx, sy = (_as_int(v, what) for v in values)
    if sx < 1 or sy < 1:
        raise ValueError(f"{what} factors must be >= 1, got {scaling!r}")
    return sx, sy


def parse_padding(padding: Padding) -> tuple:
    """int, [x, y] or [x0, x1, y0, y1] -> (x0, x1, y0, y1); negative values crop."""
    values = [padding] if not isinstance(padding, (list, tuple)) else list(padding)
    if len(values) not in (1, 2, 4):
        raise ValueError(f"padding must be an int, [x, y] or [x0, x1, y0, y1], got {padding!r}")
    values = [_as_int(v, "padding") for v in values]
    if len(values) == 1:
        values = values * 4
    elif len(values) == 2:
        values = [values[0], values[0], values[1], values[1]]
    return tuple(values)


def filter_size(f: Optional[torch.Tensor]) -> tuple:
    """(width, height) of a 2-D filter, or (taps, taps) of a separable one; (1, 1) for None."""
    if f is None:
        return 1, 1
    if not isinstance(f, torch.Tensor) or f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"filter f must be None or a non-empty 1-D/2-D tensor, got {getattr(f, 'shape', f)}")
    return int(f.shape[-1]), int(f.shape[0])


# -- filters -------------------------------------------------------------------------------------
def setup_filter(f, device=torch.device("cpu"), normalize: bool = True, flip_filter: bool = False,
                 gain: float = 1, separable: Optional[bool] = None) -> torch.Tensor:
    """Prepare an FIR filter for upfirdn2d from a list, array or tensor.

    ``f``: [taps] (made 2-D by an outer product unless ``separable``), [h, w], a scalar, or None (identity).
    ``normalize`` makes the filter keep a constant signal's level; ``gain`` scales the overall signal.
    ``separable=None`` keeps 1-D filters with 8+ taps separable. Returns float32 [taps] or [h, w].
    """
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32).detach().clone().cpu()
    if f.ndim > 2 or f.numel() == 0:
        raise ValueError(f"setup_filter: f must be a scalar, [taps] or [h, w] and non-empty, got shape "
                         f"{tuple(f.shape)}")
    if f.ndim == 0:
        f = f.reshape(1)
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if f.ndim != (1 if separable else 2):
        raise ValueError("setup_filter: separable=True needs a 1-D filter")
    if normalize:
        total = f.sum()
        if total == 0:
            raise ValueError("setup_filter: cannot normalize a filter whose taps sum to 0")
        f = f / total
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


def _check_inputs(x: torch.Tensor, f: Optional[torch.Tensor]) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"upfirdn2d: x must be a 4-D [N, C, H, W] tensor, got "
                         f"{getattr(x, 'shape', type(x))}")
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


def _output_size(x: torch.Tensor, f: torch.Tensor, up, down, pad) -> tuple:
    fw, fh = filter_size(f)
    width = (x.shape[3] * up[0] + pad[0] + pad[1] - fw) // down[0] + 1
    height = (x.shape[2] * up[1] + pad[2] + pad[3] - fh) // down[1] + 1
    if width < 1 or height < 1:
        raise ValueError(f"upfirdn2d: output would be empty ({height}x{width}) for input {tuple(x.shape)}, "
                         f"filter {tuple(f.shape)}, up={up}, down={down}, padding={pad}")
    return height, width


# -- the op --------------------------------------------------------------------------------------
def upfirdn2d(x: torch.Tensor, f: Optional[torch.Tensor], up: IntOrPair = 1, down: IntOrPair = 1,
              padding: Padding = 0, flip_filter: bool = False, gain: float = 1,
              impl: Optional[str] = None) -> torch.Tensor:
    """Per channel: insert up-1 zeros after each pixel, pad (negative crops), convolve with ``f``, keep
    every down-th pixel. Padding counts in upsampled pixels. ``flip_filter=True`` correlates instead of
    convolving; ``gain`` scales the result. x: [N, C, H, W]; f: [h, w], [taps] (separable) or None."""
    f = _check_inputs(x, f)
    up, down, pad = parse_scaling(up, "up"), parse_scaling(down, "down"), parse_padding(padding)
    _output_size(x, f, up, down, pad)
    if choose_impl(x, impl, "upfirdn2d") == "cuda" and x.dtype in _KERNEL_DTYPES:
        return _Upfirdn2dCuda.apply(x, f, up, down, pad, bool(flip_filter), float(gain))
    return _upfirdn2d_ref(x, f, up, down, pad, flip_filter, gain)


def _upfirdn2d_ref(x, f, up, down, pad, flip_filter, gain) -> torch.Tensor:
    n, c, h, w = x.shape
    (upx, upy), (downx, downy), (px0, px1, py0, py1) = up, down, pad
    if upx > 1 or upy > 1:
        x = x.reshape([n, c, h, 1, w, 1])
        x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
        x = x.reshape([n, c, h * upy, w * upx])
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]

    # conv2d correlates, so a convolution needs the filter flipped.
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 2:
        weight = f[None, None].repeat([c, 1, 1, 1])
        return F.conv2d(x, weight, stride=(downy, downx), groups=c)
    taps = f[None, None].repeat([c, 1, 1])
    x = F.conv2d(x, taps.unsqueeze(2), stride=(1, downx), groups=c)
    return F.conv2d(x, taps.unsqueeze(3), stride=(downy, 1), groups=c)


# -- CUDA path -----------------------------------------------------------------------------------
_KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _kernel_taps(f: torch.Tensor, x_dtype: torch.dtype, flip_filter: bool, gain: float) -> torch.Tensor:
    """The filter as the kernel wants it: gain applied, flipped for convolution, rounded like the reference
    path rounds it (to x's dtype), stored in the kernel's accumulation dtype."""
    taps = (f * (gain ** (f.ndim / 2))).to(x_dtype)
    if not flip_filter:
        taps = taps.flip(list(range(f.ndim)))
    return taps.to(torch.float64 if x_dtype == torch.float64 else torch.float32).contiguous()


def _run_kernel(x, f, up, down, pad, flip_filter, gain) -> torch.Tensor:
    (upx, upy), (downx, downy), (px0, px1, py0, py1) = up, down, pad
    taps = _kernel_taps(f, x.dtype, flip_filter, gain)
    run = plugin.get().upfirdn2d
    if f.ndim == 2:
        return run(x, taps, upx, upy, downx, downy, px0, px1, py0, py1)
    x = run(x, taps.unsqueeze(0), upx, 1, downx, 1, px0, px1, 0, 0)
    return run(x, taps.unsqueeze(1), 1, upy, 1, downy, 0, 0, py0, py1)


class _Upfirdn2dCuda(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, f, up, down, pad, flip_filter, gain):
        ctx.save_for_backward(f)
        ctx.args = (up, down, pad, flip_filter, gain)
        ctx.in_size = (x.shape[2], x.shape[3])
        return _run_kernel(x, f, up, down, pad, flip_filter, gain)

    @staticmethod
    def backward(ctx, dy):
        f, = ctx.saved_tensors
        (upx, upy), (downx, downy), (px0, _, py0, _), flip_filter, gain = ctx.args
        ih, iw = ctx.in_size
        oh, ow = dy.shape[2], dy.shape[3]
        fw, fh = filter_size(f)
        # Each input pixel receives from the output pixels whose footprint covers it: that is an upfirdn2d
        # of dy with the mirrored filter, the roles of up and down swapped, and padding chosen so that the
        # result lines up with (and has exactly the size of) x.
        grad_pad = (fw - px0 - 1, iw * upx - ow * downx + px0 - upx + 1,
                    fh - py0 - 1, ih * upy - oh * downy + py0 - upy + 1)
        dx = None
        if ctx.needs_input_grad[0]:
            dx = _Upfirdn2dCuda.apply(dy, f, (downx, downy), (upx, upy), grad_pad, not flip_filter, gain)
        return dx, None, None, None, None, None, None


# -- conveniences with the padding StyleGAN2 uses ------------------------------------------------
def filter2d(x: torch.Tensor, f: Optional[torch.Tensor], padding: Padding = 0, flip_filter: bool = False,
             gain: float = 1, impl: Optional[str] = None) -> torch.Tensor:
    """Filter keeping the image size; ``padding`` (w.r.t. the output) is added on top."""
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    pad = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=pad, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x: torch.Tensor, f: Optional[torch.Tensor], up: IntOrPair = 2, padding: Padding = 0,
               flip_filter: bool = False, gain: float = 1, impl: Optional[str] = None) -> torch.Tensor:
    """Upsample by ``up`` with filter ``f`` so the output is exactly up times larger (plus ``padding``)."""
    upx, upy = parse_scaling(up, "up")
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    pad = [px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2, py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=(upx, upy), padding=pad, flip_filter=flip_filter, gain=gain * upx * upy,
                     impl=impl)


def downsample2d(x: torch.Tensor, f: Optional[torch.Tensor], down: IntOrPair = 2, padding: Padding = 0,
                 flip_filter: bool = False, gain: float = 1, impl: Optional[str] = None) -> torch.Tensor:
    """Downsample by ``down`` with filter ``f`` so the output is exactly down times smaller."""
    downx, downy = parse_scaling(down, "down")
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    pad = [px0 + (fw - downx + 1) // 2, px1 + (fw - downx) // 2,
           py0 + (fh - downy + 1) // 2, py1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=(downx, downy), padding=pad, flip_filter=flip_filter, gain=gain, impl=impl)

