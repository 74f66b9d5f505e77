"""StyleGAN2 discriminator, needed only to train generators (inference never touches it).

Same architecture and parameter names as the official stylegan2-ada-pytorch ``Discriminator`` (blocks
``b{res}`` with ``fromrgb``/``conv0``/``conv1``/``skip``, epilogue ``b4`` with ``conv``/``fc``/``out``), with
equalized learning rate (the generator's own layers: weights stored N(0, 1), scaled by 1/sqrt(fan_in) at
run time). Unconditional only (``c_dim=0``).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from generators import ops
from generators.stylegan2.layers import EqualizedConv2d, FullyConnected


class DiscriminatorBlock(nn.Module):
    """One resolution: (FromRGB) -> 3x3 conv -> 3x3 conv with 2x down-sampling, plus the chosen skip path."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int,
                 img_channels: int, architecture: str = "resnet", resample_filter=(1, 3, 3, 1),
                 conv_clamp: Optional[float] = None, use_fp16: bool = False):
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = EqualizedConv2d(img_channels, tmp_channels, 1, activation="lrelu",
                                           conv_clamp=conv_clamp)
        self.conv0 = EqualizedConv2d(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = EqualizedConv2d(tmp_channels, out_channels, 3, activation="lrelu", down=2,
                                     resample_filter=resample_filter, conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = EqualizedConv2d(tmp_channels, out_channels, 1, bias=False, down=2,
                                        resample_filter=resample_filter)

    def forward(self, x: Optional[torch.Tensor], img: Optional[torch.Tensor], force_fp32: bool = False):
        dtype = torch.float16 if self.use_fp16 and not force_fp32 else torch.float32
        if x is not None:
            x = x.to(dtype)
        if self.in_channels == 0 or self.architecture == "skip":
            y = self.fromrgb(img.to(dtype))
            x = x + y if x is not None else y
            img = ops.downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            # Both paths scaled by sqrt(1/2) so the sum keeps unit variance.
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
            x = y + x
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class MinibatchStdLayer(nn.Module):
    """Appends the across-group feature stddev as extra channels, letting D see a lack of sample variety."""

    def __init__(self, group_size: Optional[int], num_channels: int = 1):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size is not None else n
        if n % g != 0:
            raise ValueError(f"minibatch-std: batch size {n} is not divisible by the group size {g}")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)  # variance over each group
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # [n/g, F]: mean stddev over channels and pixels
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: (FromRGB for 'skip') -> minibatch std -> 3x3 conv -> FC -> FC to one logit."""

    def __init__(self, in_channels: int, resolution: int, img_channels: int, architecture: str = "resnet",
                 mbstd_group_size: Optional[int] = 4, mbstd_num_channels: int = 1,
                 conv_clamp: Optional[float] = None):
        super().__init__()
        self.architecture = architecture
        if architecture == "skip":
            self.fromrgb = EqualizedConv2d(img_channels, in_channels, 1, activation="lrelu")
        self.mbstd = None
        if mbstd_num_channels > 0:
            self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels)
        self.conv = EqualizedConv2d(in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu",
                                    conv_clamp=conv_clamp)
        self.fc = FullyConnected(in_channels * resolution ** 2, in_channels, activation="lrelu")
        self.out = FullyConnected(in_channels, 1)

    def forward(self, x: torch.Tensor, img: Optional[torch.Tensor]) -> torch.Tensor:
        x = x.to(torch.float32)
        if self.architecture == "skip":
            x = x + self.fromrgb(img.to(torch.float32))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        return self.out(self.fc(x.flatten(1)))


class Discriminator(nn.Module):
    """Images [N, C, R, R] in [-1, 1] -> real/fake logits [N, 1].

    Takes the official constructor arguments (``block_kwargs``/``epilogue_kwargs`` included) so configs
    carry over; ``config`` holds them for saving.
    """

    def __init__(self, c_dim: int = 0, img_resolution: int = 32, img_channels: int = 1,
                 architecture: str = "resnet", channel_base: int = 32768, channel_max: int = 512,
                 num_fp16_res: int = 0, conv_clamp: Optional[float] = None, cmap_dim: Optional[int] = None,
                 block_kwargs: Optional[dict] = None, mapping_kwargs: Optional[dict] = None,
                 epilogue_kwargs: Optional[dict] = None):
        super().__init__()
        if c_dim != 0:
            raise ValueError("Discriminator: only unconditional training is supported (c_dim must be 0)")
        log2 = int(round(math.log2(img_resolution))) if img_resolution > 0 else 0
        if img_resolution < 8 or 2 ** log2 != img_resolution:
            raise ValueError(f"Discriminator: img_resolution must be a power of two >= 8, "
                             f"got {img_resolution}")
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"Discriminator: architecture must be 'orig', 'skip' or 'resnet', "
                             f"got {architecture!r}")
        self.config = dict(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                           architecture=architecture, channel_base=channel_base, channel_max=channel_max,
                           num_fp16_res=num_fp16_res, conv_clamp=conv_clamp, cmap_dim=cmap_dim,
                           block_kwargs=dict(block_kwargs or {}), mapping_kwargs=dict(mapping_kwargs or {}),
                           epilogue_kwargs=dict(epilogue_kwargs or {}))
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                channels[res] if res < img_resolution else 0, channels[res], channels[res // 2], res,
                img_channels, architecture=architecture, conv_clamp=conv_clamp,
                use_fp16=res >= fp16_resolution, **(block_kwargs or {}))
            setattr(self, f"b{res}", block)
        self.b4 = DiscriminatorEpilogue(channels[4], 4, img_channels, architecture=architecture,
                                        conv_clamp=conv_clamp, **(epilogue_kwargs or {}))

    def forward(self, img: torch.Tensor, c: Optional[torch.Tensor] = None, force_fp32: bool = False):
        expected = (self.img_channels, self.img_resolution, self.img_resolution)
        if img.ndim != 4 or tuple(img.shape[1:]) != expected:
            raise ValueError(f"Discriminator: expected images [N, {expected[0]}, {expected[1]}, "
                             f"{expected[2]}], got {tuple(img.shape)}")
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32)
        return self.b4(x, img)
