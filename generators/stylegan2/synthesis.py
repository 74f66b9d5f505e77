"""The synthesis network: W+ codes -> image, through one block per resolution 4, 8, ..., R.

How the blocks produce the image (``architecture``):
  * ``orig``:   only the last block converts its features to an image;
  * ``skip``:   every block converts its features, and the images are upsampled and summed;
  * ``resnet``: features pass a 1x1 upsampling shortcut around the block's two convolutions, each branch
                scaled by sqrt(1/2) so the sum keeps unit variance; the last block makes the image.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence

import torch
from torch import nn

from generators import ops
from generators.stylegan2.layers import EqualizedConv2d
from generators.stylegan2.styled import NOISE_MODES, StyledConv, ToRGB

ARCHITECTURES = ("orig", "skip", "resnet")
__all__ = ["ARCHITECTURES", "NOISE_MODES", "SynthesisBlock", "SynthesisNetwork"]

_HALF_VARIANCE = math.sqrt(0.5)


def use_per_sample_filters(x: torch.Tensor, training: bool, half_precision: bool) -> bool:
    """The default form of the modulated convolutions (see ``modulation``).

    On CUDA, the rule of the official code, so that outputs match it to the last bit: per-sample filters
    for inference, in float32 or for a single sample. On CPU the grouped convolution is about 1.8x slower
    than modulating the activations, forward and backward alike, and both agree to float rounding.
    """
    return x.device.type == "cuda" and not training and (not half_precision or x.shape[0] == 1)


class SynthesisBlock(nn.Module):
    """One resolution: a learned 4x4 constant or a 2x-upsampling styled conv, a styled conv, and the
    block's share of the image. Consumes ``num_conv + num_torgb`` W entries; the last of them is also the
    first one of the next block."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", resample_filter: Sequence[float] = (1, 3, 3, 1),
                 conv_clamp: Optional[float] = None, use_fp16: bool = False, kernel_size: int = 3,
                 use_noise: bool = True, activation: str = "lrelu"):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        first = in_channels == 0
        self.in_channels, self.resolution, self.is_last = in_channels, resolution, is_last
        self.architecture, self.use_fp16 = architecture, use_fp16
        self.residual = architecture == "resnet" and not first
        self.num_conv = 1 if first else 2
        self.num_torgb = 1 if is_last or architecture == "skip" else 0
        styled = dict(w_dim=w_dim, resolution=resolution, kernel_size=kernel_size, use_noise=use_noise,
                      activation=activation, resample_filter=resample_filter, conv_clamp=conv_clamp)

        self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution])) if first else None
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        if not first:
            self.conv0 = StyledConv(in_channels, out_channels, up=2, **styled)
        self.conv1 = StyledConv(out_channels, out_channels, **styled)
        if self.num_torgb:
            self.torgb = ToRGB(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
        if self.residual:
            self.skip = EqualizedConv2d(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                        resample_filter=resample_filter)

    def convs(self) -> List[StyledConv]:
        return [self.conv1] if self.in_channels == 0 else [self.conv0, self.conv1]

    def forward(self, x: Optional[torch.Tensor], img: Optional[torch.Tensor], ws: Sequence[torch.Tensor],
                noise: Sequence[Optional[torch.Tensor]], noise_mode: str, fused: Optional[bool],
                force_fp32: bool):
        """(features, image) of the previous block -> this block's. ``ws``: its W entries [N, w_dim];
        ``noise``: an explicit map or None per conv."""
        half = self.use_fp16 and not force_fp32
        dtype = torch.float16 if half else torch.float32
        if self.in_channels == 0:
            x = self.const.expand(ws[0].shape[0], *self.const.shape)
        x = x.to(dtype)
        if fused is None:
            fused = use_per_sample_filters(x, self.training, half)
        shortcut = self.skip(x, gain=_HALF_VARIANCE) if self.residual else None
        for index, conv in enumerate(self.convs()):
            # in a residual block the last conv, like the shortcut, is scaled by sqrt(1/2)
            gain = _HALF_VARIANCE if self.residual and index == self.num_conv - 1 else 1.0
            x = conv(x, ws[index], noise_mode=noise_mode, noise=noise[index], fused=fused, gain=gain)
        if shortcut is not None:
            x = shortcut + x

        if img is not None:
            img = ops.upsample2d(img, self.resample_filter)
        if self.num_torgb:
            rgb = self.torgb(x, ws[self.num_conv], fused=fused).to(torch.float32)
            img = rgb if img is None else img + rgb
        return x, img


class SynthesisNetwork(nn.Module):
    """Blocks ``b4``, ``b8``, ... ``b<img_resolution>`` (the official names) with
    ``min(channel_base // res, channel_max)`` channels at resolution ``res``.

    On CUDA the ``num_fp16_res`` highest resolutions run in float16 unless ``force_fp32``.
    ``fp16_channels_last`` is a memory-layout hint of the official code that does not change the results:
    accepted and kept in the config, not applied.
    """

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 0, architecture: str = "skip",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None,
                 fp16_channels_last: bool = False, kernel_size: int = 3, use_noise: bool = True,
                 activation: str = "lrelu"):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        if img_channels < 1:
            raise ValueError(f"img_channels must be >= 1, got {img_channels}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2 ** k for k in range(2, int(math.log2(img_resolution)) + 1)]

        def width(res: int) -> int:
            return min(channel_base // res, channel_max)

        if width(img_resolution) < 1:
            raise ValueError(f"channel_base={channel_base} leaves no channels at resolution {img_resolution}")
        # the fp16 blocks are the num_fp16_res highest resolutions, never 4x4
        lowest_fp16 = max(2 * img_resolution // 2 ** num_fp16_res, 8)
        self.num_ws = 0
        self.w_offsets: List[int] = []  # index in W+ of each block's first entry
        for res in self.block_resolutions:
            block = SynthesisBlock(
                width(res // 2) if res > 4 else 0, width(res), w_dim=w_dim, resolution=res,
                img_channels=img_channels, is_last=res == img_resolution, architecture=architecture,
                resample_filter=resample_filter, conv_clamp=conv_clamp, use_fp16=res >= lowest_fp16,
                kernel_size=kernel_size, use_noise=use_noise, activation=activation)
            setattr(self, f"b{res}", block)
            self.w_offsets.append(self.num_ws)
            self.num_ws += block.num_conv
        self.num_ws += block.num_torgb  # only the last block's ToRGB has an entry of its own

    def blocks(self) -> List[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def noise_layers(self) -> List[StyledConv]:
        """The convolutions that take noise, in the order ``noise`` lists are given."""
        return [conv for block in self.blocks() for conv in block.convs() if conv.use_noise]

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", noise: Optional[Sequence[torch.Tensor]] = None,
                force_fp32: bool = True, fused_modconv: Optional[bool] = None) -> torch.Tensor:
        """``ws`` [N, num_ws, w_dim] (validated by the caller) -> image [N, C, R, R] in float32."""
        entries = ws.to(torch.float32).unbind(dim=1)
        maps = iter(noise) if noise is not None else None
        x = img = None
        for block, first in zip(self.blocks(), self.w_offsets):
            block_noise = [next(maps) if maps is not None and conv.use_noise else None for conv in block.convs()]
            x, img = block(x, img, entries[first:first + block.num_conv + block.num_torgb], block_noise,
                           noise_mode, fused_modconv, force_fp32)
        return img
