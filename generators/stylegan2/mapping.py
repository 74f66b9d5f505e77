"""The mapping network: z (and a class) -> w, repeated into W+, with truncation towards the mean w.

Its layers learn 100x slower than the rest of the generator (``lr_multiplier=0.01``), which keeps W
well-behaved while the synthesis network learns to use it.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from generators.stylegan2.layers import EqualizedLinear, activation_gain, unit_rms


class MappingNetwork(nn.Module):
    """MLP ``fc0``, ``fc1``, ... over unit-RMS z, concatenated with the unit-RMS output of the class
    embedding ``embed`` for conditional networks. ``w_avg`` follows the running mean of w while training
    (an exponential average with decay ``w_avg_beta``) and is the centre of truncation.
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 8,
                 embed_features: Optional[int] = None, layer_features: Optional[int] = None,
                 activation: str = "lrelu", lr_multiplier: float = 0.01, w_avg_beta: Optional[float] = 0.995):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"mapping num_layers must be >= 1, got {num_layers}")
        if z_dim == 0 and c_dim == 0:
            raise ValueError("the mapping network needs an input: z_dim and c_dim are both 0")
        activation_gain(activation)
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta

        if c_dim > 0:
            embed_features = w_dim if embed_features is None else embed_features
            self.embed = EqualizedLinear(c_dim, embed_features)
        hidden = w_dim if layer_features is None else layer_features
        width_in = z_dim + (embed_features if c_dim > 0 else 0)
        for index in range(num_layers):
            width_out = w_dim if index == num_layers - 1 else hidden
            layer = EqualizedLinear(width_in, width_out, activation=activation, lr_multiplier=lr_multiplier)
            self.add_module(f"fc{index}", layer)
            width_in = width_out
        self.register_buffer("w_avg", torch.zeros([w_dim]) if w_avg_beta is not None else None)

    def forward(self, z: Optional[torch.Tensor], c: Optional[torch.Tensor], truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None, update_w_avg: bool = True) -> torch.Tensor:
        """W+ codes [N, num_ws, w_dim]; inputs are validated by the caller."""
        parts = []
        if self.z_dim > 0:
            parts.append(unit_rms(z.to(torch.float32)))
        if self.c_dim > 0:
            parts.append(unit_rms(self.embed(c.to(torch.float32))))
        w = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        for index in range(self.num_layers):
            w = getattr(self, f"fc{index}")(w)

        if self.training and update_w_avg and self.w_avg_beta is not None:
            self.w_avg.lerp_(w.detach().mean(dim=0), 1 - self.w_avg_beta)
        ws = w[:, None, :].repeat(1, self.num_ws, 1)
        if truncation_psi == 1:
            return ws
        if self.w_avg_beta is None:
            raise ValueError("truncation needs w_avg, but this mapping network does not track it (w_avg_beta=None)")
        cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
        # w_avg + psi * (w - w_avg) for the first `cutoff` entries; the others stay exactly as they were
        return torch.cat([self.w_avg.lerp(ws[:, :cutoff], truncation_psi), ws[:, cutoff:]], dim=1)
