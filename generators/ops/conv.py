"""Convolution on a resampled grid, the operation behind StyleGAN2's up- and down-sampling layers.

``conv2d_resample(x, w, f, up, down, padding)`` is, by definition,

    upfirdn2d(x, f, up=up, padding=p, gain=up**2)  ->  conv2d(w)  ->  upfirdn2d(f, down=down)

with ``p`` = ``padding`` plus what keeps the grid centred, all applied before anything else. Filtering and
convolution commute, so the work can be ordered to run the expensive step on the smaller grid:

* up:   a transposed convolution with stride ``up`` inserts the zeros and convolves with ``w`` in one
        step; the FIR filter then smooths the result (no multiplications by inserted zeros anywhere).
        A 1x1 kernel is cheaper still at the low resolution: convolve, then upsample.
* down: the FIR filter runs first and the convolution's stride drops the samples; a 1x1 kernel lets
        the filter do the decimation, so the convolution runs on the small image.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .resample import Padding, centring_padding, filter_size, parse_padding, upfirdn2d


def _check(x, w, f, up, down, groups) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"conv2d_resample: x must be a 4-D [N, C, H, W] tensor, got {getattr(x, 'shape', x)}")
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
        raise ValueError(f"conv2d_resample: x has {x.shape[1]} channels but w expects {w.shape[1]} x {groups} groups")
    if w.shape[0] % groups:
        raise ValueError(f"conv2d_resample: {w.shape[0]} output channels are not divisible by groups={groups}")


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: Optional[torch.Tensor] = None, up: int = 1,
                    down: int = 1, padding: Padding = 0, groups: int = 1, flip_weight: bool = True,
                    flip_filter: bool = False) -> torch.Tensor:
    """Upsample x by ``up`` (FIR filter ``f``), convolve with ``w``, downsample by ``down`` (filter ``f``).

    x: [N, C_in, H, W]; w: [C_out, C_in / groups, kh, kw]; f from ``setup_filter`` (None: identity).
    ``padding`` counts samples of the upsampled image. ``flip_weight=True`` correlates like torch's conv2d,
    False convolves; ``flip_filter`` does the same for ``f``.
    """
    _check(x, w, f, up, down, groups)
    kh, kw = int(w.shape[2]), int(w.shape[3])
    fw, fh = filter_size(f)
    pad = list(parse_padding(padding))
    if up > 1:
        pad = _widen(pad, centring_padding(fw, up=up), centring_padding(fh, up=up))
    if down > 1:
        pad = _widen(pad, centring_padding(fw, down=down), centring_padding(fh, down=down))
    x0, x1, y0, y1 = pad
    pointwise = kh == 1 and kw == 1

    if up > 1 and not (pointwise and down == 1):
        # conv_transpose2d convolves, so it takes w as is for a convolution and mirrored for a correlation
        return _upsampling_conv(x, w.flip([2, 3]) if flip_weight else w, f, up, down, pad, groups, flip_filter)
    weight = w if flip_weight else w.flip([2, 3])  # conv2d correlates: mirror w to convolve with it
    if up > 1:
        x = F.conv2d(x, weight, groups=groups)
        return upfirdn2d(x, f, up=up, padding=pad, gain=up * up, flip_filter=flip_filter)
    if down > 1 and pointwise:
        x = upfirdn2d(x, f, down=down, padding=pad, flip_filter=flip_filter)
        return F.conv2d(x, weight, groups=groups)
    if down > 1:
        x = upfirdn2d(x, f, padding=pad, flip_filter=flip_filter)
        return F.conv2d(x, weight, stride=down, groups=groups)
    if x0 == x1 >= 0 and y0 == y1 >= 0:
        return F.conv2d(x, weight, padding=[y0, x0], groups=groups)
    return F.conv2d(F.pad(x, pad), weight, groups=groups)


def _widen(pad, along_x, along_y):
    return [pad[0] + along_x[0], pad[1] + along_x[1], pad[2] + along_y[0], pad[3] + along_y[1]]


def _upsampling_conv(x, kernel, f, up, down, pad, groups, flip_filter) -> torch.Tensor:
    """Convolution with ``kernel`` on the ``up``-times zero-stuffed grid, then the FIR filter."""
    out_channels, _, kh, kw = (int(s) for s in kernel.shape)
    # conv_transpose2d(x, v, stride=up) is that convolution for v laid out [in, out / groups, kh, kw].
    v = kernel.unflatten(0, (groups, out_channels // groups)).transpose(1, 2).flatten(0, 1)
    x = F.conv_transpose2d(x, v, stride=up, groups=groups)
    # That is the stuffed image padded by (k - 1, k - up) and correlated: the FIR step pads the rest.
    x0, x1, y0, y1 = pad
    x = upfirdn2d(x, f, padding=[x0 + 1 - kw, x1 + up - kw, y0 + 1 - kh, y1 + up - kh], gain=up * up,
                  flip_filter=flip_filter)
    if down > 1:
        x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
    return x
