"""The StyleGAN2 synthesis network: W+ codes -> image, one block per resolution 4, 8, ..., R."""
from __future__ import annotations

import math
from typing import List, Optional, Sequence

import torch
from torch import nn

from generators import ops
from generators.stylegan2.layers import EqualizedConv2d, StyleConv, ToRGB

ARCHITECTURES = ("orig", "skip", "resnet")
NOISE_MODES = ("const", "random", "none")


class SynthesisBlock(nn.Module):
    """One resolution: (learned constant | 2x-upsampling conv), conv, and the block's image output.

    Architectures: ``orig`` emits RGB from the last block only; ``skip`` sums upsampled RGB outputs of
    every block; ``resnet`` adds a 1x1 upsampling shortcut around the two convolutions.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", resample_filter: Sequence[float] = (1, 3, 3, 1),
                 conv_clamp: Optional[float] = None, use_fp16: bool = False, kernel_size: int = 3,
                 use_noise: bool = True, activation: str = "lrelu"):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        self.in_channels = in_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        conv_kwargs = dict(w_dim=w_dim, resolution=resolution, kernel_size=kernel_size, use_noise=use_noise,
                           activation=activation, resample_filter=resample_filter, conv_clamp=conv_clamp)

        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = StyleConv(in_channels, out_channels, up=2, **conv_kwargs)
        self.conv1 = StyleConv(out_channels, out_channels, **conv_kwargs)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1 if (is_last or architecture == "skip") else 0
        if self.num_torgb:
            self.torgb = ToRGB(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
        if in_channels != 0 and architecture == "resnet":
            self.skip = EqualizedConv2d(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                        resample_filter=resample_filter)

    def convs(self) -> List[StyleConv]:
        return [self.conv1] if self.in_channels == 0 else [self.conv0, self.conv1]

    def forward(self, x: Optional[torch.Tensor], img: Optional[torch.Tensor], ws: torch.Tensor,
                force_fp32: bool, fused_modconv: Optional[bool], noise_mode: str,
                noise: Sequence[Optional[torch.Tensor]]):
        """``ws``: [N, num_conv + num_torgb, w_dim]; ``noise``: one entry (or None) per conv."""
        dtype = torch.float16 if self.use_fp16 and not force_fp32 else torch.float32
        if fused_modconv is None:
            # On CUDA the official rule, so results match it bit for bit. On CPU the grouped convolution
            # is about 1.8x slower than scaling the activations (forward and backward, any batch), and
            # the two agree to float rounding (~1e-6), so the CPU always takes the split form.
            fused_modconv = (ws.device.type == "cuda" and not self.training
                             and (dtype == torch.float32 or ws.shape[0] == 1))
        w_iter = iter(ws.unbind(dim=1))
        layer = dict(noise_mode=noise_mode, fused=fused_modconv)

        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter), noise=noise[0], **layer)
        elif self.architecture == "resnet":
            x = x.to(dtype)
            shortcut = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(w_iter), noise=noise[0], **layer)
            x = self.conv1(x, next(w_iter), noise=noise[1], gain=math.sqrt(0.5), **layer)
            x = shortcut + x
        else:
            x = x.to(dtype)
            x = self.conv0(x, next(w_iter), noise=noise[0], **layer)
            x = self.conv1(x, next(w_iter), noise=noise[1], **layer)

        if img is not None:
            img = ops.upsample2d(img, self.resample_filter)
        if self.num_torgb:
            y = self.torgb(x, next(w_iter), fused=fused_modconv).to(torch.float32)
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """Stack of ``SynthesisBlock``s ``b4``, ``b8``, ... ``b<img_resolution>`` (official names).

    Channels per resolution are ``min(channel_base // res, channel_max)``; the ``num_fp16_res`` highest
    resolutions run in float16 on CUDA unless ``force_fp32``.
    """

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 0, architecture: str = "skip",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None,
                 fp16_channels_last: bool = False, kernel_size: int = 3, use_noise: bool = True,
                 activation: str = "lrelu"):
        """``fp16_channels_last`` is a memory-layout hint of the official code that does not change
        results; it is accepted (and kept in the config) but not applied."""
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        if img_channels < 1:
            raise ValueError(f"img_channels must be >= 1, got {img_channels}")
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        if min(channels.values()) < 1:
            raise ValueError(f"channel_base={channel_base} leaves no channels at resolution {img_resolution}")
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)

        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                channels[res // 2] if res > 4 else 0, channels[res], w_dim=w_dim, resolution=res,
                img_channels=img_channels, is_last=(res == img_resolution), architecture=architecture,
                resample_filter=resample_filter, conv_clamp=conv_clamp, use_fp16=(res >= fp16_resolution),
                kernel_size=kernel_size, use_noise=use_noise, activation=activation)
            # Consecutive blocks share one w: a block's torgb uses the w of the next block's conv0.
            self.num_ws += block.num_conv + (block.num_torgb if block.is_last else 0)
            setattr(self, f"b{res}", block)

    def blocks(self) -> List[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def noise_layers(self) -> List[StyleConv]:
        """The convolutions that take noise, in the order ``noise`` lists are given."""
        return [conv for block in self.blocks() for conv in block.convs() if conv.use_noise]

    def forward(self, ws: torch.Tensor, noise_mode: str = "const",
                noise: Optional[Sequence[torch.Tensor]] = None, force_fp32: bool = True,
                fused_modconv: Optional[bool] = None) -> torch.Tensor:
        """``ws`` [N, num_ws, w_dim] (validated by the caller) -> image [N, C, R, R] float32."""
        ws = ws.to(torch.float32)
        noise_iter = iter(noise) if noise is not None else None
        x = img = None
        w_idx = 0
        for block in self.blocks():
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            block_noise = [next(noise_iter) if noise_iter is not None and conv.use_noise else None
                           for conv in block.convs()]
            x, img = block(x, img, block_ws, force_fp32=force_fp32, fused_modconv=fused_modconv,
                           noise_mode=noise_mode, noise=block_noise)
        return img
