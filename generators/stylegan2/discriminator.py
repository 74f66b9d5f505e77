"""The StyleGAN2 discriminator, needed only to train a generator (inference never touches it).

Images go down through one block per resolution R, R/2, ..., 8, each halving the resolution, into a 4x4
head that ends in one real/fake logit. Parameter names are the official ones (blocks ``b{res}`` with
``fromrgb``/``conv0``/``conv1``/``skip``; head ``b4`` with ``fromrgb``/``conv``/``fc``/``out``), all layers
equalised-lr. Unconditional only (``c_dim=0``).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from generators import ops
from generators.stylegan2.layers import EqualizedConv2d, EqualizedLinear

ARCHITECTURES = ("orig", "skip", "resnet")
_HALF_VARIANCE = math.sqrt(0.5)


class DiscriminatorBlock(nn.Module):
    """3x3 conv, then a 3x3 conv that halves the resolution.

    Images enter through a 1x1 ``fromrgb`` in the first block, or in every block for ``skip`` (which also
    passes the image on, downsampled). ``resnet`` adds a downsampling 1x1 shortcut, both branches scaled
    by sqrt(1/2).
    """

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int,
                 img_channels: int, architecture: str = "resnet", resample_filter=(1, 3, 3, 1),
                 conv_clamp: Optional[float] = None, use_fp16: bool = False):
        super().__init__()
        self.resolution, self.architecture, self.use_fp16 = resolution, architecture, use_fp16
        self.reads_image = in_channels == 0 or architecture == "skip"
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        conv = dict(activation="lrelu", conv_clamp=conv_clamp)
        if self.reads_image:
            self.fromrgb = EqualizedConv2d(img_channels, tmp_channels, 1, **conv)
        self.conv0 = EqualizedConv2d(tmp_channels, tmp_channels, 3, **conv)
        self.conv1 = EqualizedConv2d(tmp_channels, out_channels, 3, down=2, resample_filter=resample_filter, **conv)
        if architecture == "resnet":
            self.skip = EqualizedConv2d(tmp_channels, out_channels, 1, bias=False, down=2,
                                        resample_filter=resample_filter)

    def forward(self, x: Optional[torch.Tensor], img: Optional[torch.Tensor], force_fp32: bool = False):
        dtype = torch.float16 if self.use_fp16 and not force_fp32 else torch.float32
        if self.reads_image:
            features = self.fromrgb(img.to(dtype))
            x = features if x is None else x.to(dtype) + features
            img = ops.downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        else:
            x = x.to(dtype)
        if self.architecture == "resnet":
            return self.skip(x, gain=_HALF_VARIANCE) + self.conv1(self.conv0(x), gain=_HALF_VARIANCE), img
        return self.conv1(self.conv0(x)), img


def minibatch_stddev(x: torch.Tensor, group_size: Optional[int], num_channels: int = 1) -> torch.Tensor:
    """x with ``num_channels`` more channels holding how much the samples of a group differ.

    The batch is split into groups of ``group_size`` (sample i joins group i mod N / group_size); each
    channel group's feature is the standard deviation over the group, averaged over its channels and
    pixels. A generator that collapses to a few outputs gets caught by it.
    """
    n, c, h, w = x.shape
    size = n if group_size is None else min(group_size, n)
    if n % size:
        raise ValueError(f"minibatch-std: batch size {n} is not divisible by the group size {size}")
    grouped = x.reshape(size, n // size, num_channels, c // num_channels, h, w)
    spread = grouped.var(dim=0, unbiased=False).add(1e-8).sqrt().mean(dim=[2, 3, 4])  # [N / size, F]
    spread = spread.repeat(size, 1)[:, :, None, None].expand(n, num_channels, h, w)
    return torch.cat([x, spread.to(x.dtype)], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: (``fromrgb`` for skip), minibatch stddev, 3x3 conv, dense layer, dense layer to one logit."""

    def __init__(self, in_channels: int, resolution: int, img_channels: int, architecture: str = "resnet",
                 mbstd_group_size: Optional[int] = 4, mbstd_num_channels: int = 1,
                 conv_clamp: Optional[float] = None):
        super().__init__()
        self.conv = EqualizedConv2d(in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu",
                                    conv_clamp=conv_clamp)
        self.fc = EqualizedLinear(in_channels * resolution * resolution, in_channels, activation="lrelu")
        self.out = EqualizedLinear(in_channels, 1)
        self.reads_image = architecture == "skip"
        if self.reads_image:
            self.fromrgb = EqualizedConv2d(img_channels, in_channels, 1, activation="lrelu")
        self.mbstd_group_size, self.mbstd_num_channels = mbstd_group_size, mbstd_num_channels

    def forward(self, x: torch.Tensor, img: Optional[torch.Tensor]) -> torch.Tensor:
        x = x.to(torch.float32)
        if self.reads_image:
            x = x + self.fromrgb(img.to(torch.float32))
        if self.mbstd_num_channels > 0:
            x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_channels)
        return self.out(self.fc(self.conv(x).flatten(1)))


class Discriminator(nn.Module):
    """Images [N, C, R, R] in [-1, 1] -> real/fake logits [N, 1].

    Takes the official constructor arguments (``block_kwargs``, ``epilogue_kwargs``, ...) so configs carry
    over; ``config`` holds them for saving.
    """

    def __init__(self, c_dim: int = 0, img_resolution: int = 32, img_channels: int = 1,
                 architecture: str = "resnet", channel_base: int = 32768, channel_max: int = 512,
                 num_fp16_res: int = 0, conv_clamp: Optional[float] = None, cmap_dim: Optional[int] = None,
                 block_kwargs: Optional[dict] = None, mapping_kwargs: Optional[dict] = None,
                 epilogue_kwargs: Optional[dict] = None):
        super().__init__()
        if c_dim != 0:
            raise ValueError("Discriminator: only unconditional training is supported (c_dim must be 0)")
        if img_resolution < 8 or img_resolution & (img_resolution - 1):
            raise ValueError(f"Discriminator: img_resolution must be a power of two >= 8, got {img_resolution}")
        if architecture not in ARCHITECTURES:
            raise ValueError(f"Discriminator: architecture must be 'orig', 'skip' or 'resnet', got {architecture!r}")
        self.config = dict(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                           architecture=architecture, channel_base=channel_base, channel_max=channel_max,
                           num_fp16_res=num_fp16_res, conv_clamp=conv_clamp, cmap_dim=cmap_dim,
                           block_kwargs=dict(block_kwargs or {}), mapping_kwargs=dict(mapping_kwargs or {}),
                           epilogue_kwargs=dict(epilogue_kwargs or {}))
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels

        def width(res: int) -> int:
            return min(channel_base // res, channel_max)

        lowest_fp16 = max(2 * img_resolution // 2 ** num_fp16_res, 8)
        self.block_resolutions = [img_resolution >> k for k in range(int(math.log2(img_resolution)) - 2)]
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                0 if res == img_resolution else width(res), width(res), width(res // 2), res, img_channels,
                architecture=architecture, conv_clamp=conv_clamp, use_fp16=res >= lowest_fp16,
                **(block_kwargs or {}))
            setattr(self, f"b{res}", block)
        self.b4 = DiscriminatorEpilogue(width(4), 4, img_channels, architecture=architecture, conv_clamp=conv_clamp,
                                        **(epilogue_kwargs or {}))

    def forward(self, img: torch.Tensor, c: Optional[torch.Tensor] = None, force_fp32: bool = False):
        expected = (self.img_channels, self.img_resolution, self.img_resolution)
        if img.ndim != 4 or tuple(img.shape[1:]) != expected:
            raise ValueError(f"Discriminator: expected images [N, {expected[0]}, {expected[1]}, {expected[2]}], "
                             f"got {tuple(img.shape)}")
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32)
        return self.b4(x, img)
