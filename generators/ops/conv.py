"""2-D convolution fused with FIR up/downsampling, as StyleGAN2's modulated convolutions use it.

Padding is applied once, at the beginning, with respect to the upsampled image. The order of operations is
chosen per case so that the expensive part runs at the lower resolution (e.g. a strided transposed
convolution for up=2); every case computes the same function as "upsample, pad, convolve, downsample".
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .resample import Padding, filter_size, parse_padding, upfirdn2d


def _conv(x, w, stride=1, padding=0, groups=1, transpose=False, flip_weight=True) -> torch.Tensor:
    """conv2d / conv_transpose2d; ``flip_weight=False`` turns torch's correlation into a true convolution."""
    if not flip_weight:
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def _check(x, w, f, up, down, groups) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"conv2d_resample: x must be a 4-D [N, C, H, W] tensor, got "
                         f"{getattr(x, 'shape', x)}")
    if not isinstance(w, torch.Tensor) or w.ndim != 4:
        raise ValueError(f"conv2d_resample: w must be a 4-D [out, in/groups, kh, kw] tensor, got "
                         f"{getattr(w, 'shape', w)}")
    if w.dtype != x.dtype:
        raise ValueError(f"conv2d_resample: w has dtype {w.dtype} but x has {x.dtype}")
    if f is not None and (not isinstance(f, torch.Tensor) or f.ndim not in (1, 2)):
        raise ValueError("conv2d_resample: f must be None or a filter from setup_filter()")
    for name, value in (("up", up), ("down", down), ("groups", groups)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"conv2d_resample: {name} must be an int >= 1, got {value!r}")
    if x.shape[1] != w.shape[1] * groups:
        raise ValueError(f"conv2d_resample: x has {x.shape[1]} channels but w expects "
                         f"{w.shape[1]} x {groups} groups")
    if w.shape[0] % groups:
        raise ValueError(f"conv2d_resample: {w.shape[0]} output channels are not divisible by "
                         f"groups={groups}")


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: Optional[torch.Tensor] = None, up: int = 1,
                    down: int = 1, padding: Padding = 0, groups: int = 1, flip_weight: bool = True,
                    flip_filter: bool = False) -> torch.Tensor:
    """Upsample by ``up`` (filter ``f``), convolve with ``w``, downsample by ``down`` (filter ``f``).

    x: [N, C_in, H, W]; w: [C_out, C_in / groups, kh, kw]; f from ``setup_filter`` (None = identity).
    ``flip_weight=True`` correlates like torch's conv2d; ``flip_filter`` likewise for ``f``.
    """
    _check(x, w, f, up, down, groups)
    out_channels, in_per_group, kh, kw = (int(s) for s in w.shape)
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)

    # Padding that keeps the resampled image aligned with the input.
    if up > 1:
        px0, px1, py0, py1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2, py0 + (fh + up - 1) // 2, \
            py1 + (fh - up) // 2
    if down > 1:
        px0, px1, py0, py1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2, \
            py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    pad = [px0, px1, py0, py1]

    if kw == 1 and kh == 1 and down > 1 and up == 1:  # 1x1 conv commutes with filtering: downsample first
        x = upfirdn2d(x, f, down=down, padding=pad, flip_filter=flip_filter)
        return _conv(x, w, groups=groups, flip_weight=flip_weight)

    if kw == 1 and kh == 1 and up > 1 and down == 1:  # ... and upsample last
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=pad, gain=up ** 2, flip_filter=flip_filter)

    if down > 1 and up == 1:  # filter, then a strided convolution does the decimation
        x = upfirdn2d(x, f, padding=pad, flip_filter=flip_filter)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight)

    if up > 1:
        # A transposed convolution with stride `up` equals zero insertion followed by a convolution with
        # the mirrored kernel; it needs the weight as [in, out/groups, kh, kw].
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
            w = w.reshape(groups * in_per_group, out_channels // groups, kh, kw)
        px0, px1, py0, py1 = px0 - (kw - 1), px1 - (kw - up), py0 - (kh - 1), py1 - (kh - up)
        # Let the transposed convolution crop as much as both sides allow; the filter handles the rest.
        pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
        x = _conv(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True,
                  flip_weight=not flip_weight)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2,
                      flip_filter=flip_filter)
        if down > 1:
            x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
        return x

    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:  # plain convolution with symmetric padding
        return _conv(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)

    # No resampling but asymmetric or negative padding: pad (or crop) explicitly first.
    x = upfirdn2d(x, None, padding=pad, flip_filter=flip_filter)
    return _conv(x, w, groups=groups, flip_weight=flip_weight)
