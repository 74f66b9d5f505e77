"""A fully connected Fashion-MNIST classifier: the bundled *judge*, built unlike the explained CNN.

A path that moves the CNN across its boundary may only exploit what the CNN happens to be sensitive to (a
blind spot). Asking a second classifier with a different inductive bias tells a genuine change from such a
blind spot; an MLP on raw pixels shares neither the CNN's convolutions (local, translation-equivariant
filters) nor its pooling, so agreement between the two is evidence about the image rather than about one
architecture's quirks.
"""
from __future__ import annotations

import torch
from torch import nn

from cfgan.models import register_architecture


@register_architecture("fmnist_mlp")
class FashionMNISTMLP(nn.Module):
    """Pixels -> ``hidden`` -> ``feature_dim`` (LayerNorm + GELU each) -> class logits.

    LayerNorm rather than BatchNorm: a per-image normalisation, so a frame's score never depends on the
    rest of the batch even in training mode. ``features(x)`` returns the penultimate activations.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, resolution: int = 32, hidden: int = 400,
                 feature_dim: int = 200, dropout: float = 0.2):
        super().__init__()
        pixels = in_channels * resolution * resolution
        self.embed = nn.Sequential(
            nn.Flatten(), nn.Linear(pixels, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, feature_dim), nn.LayerNorm(feature_dim), nn.GELU(),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations [N, feature_dim]."""
        return self.embed(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))
