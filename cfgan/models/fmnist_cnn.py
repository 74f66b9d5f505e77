"""Small CNN for 32x32 grayscale Fashion-MNIST: the bundled classifier that cfgan explains and whose
penultimate features serve as the Frechet-distance embedding for generator evaluation."""
from __future__ import annotations

import torch
from torch import nn

from cfgan.models import register_architecture


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


@register_architecture("fmnist_cnn")
class FashionMNISTCNN(nn.Module):
    """Four 3x3 conv+BN+ReLU layers at 32, 16, 16 and 8 pixels (max-pooled in between), then a fully
    connected embedding. Most compute sits at 16x16 so that training stays cheap on a CPU.

    ``features(x)`` returns the ``feature_dim``-dimensional penultimate activations (after ReLU), which
    ``forward`` maps linearly to class logits.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32, feature_dim: int = 128,
                 resolution: int = 32, dropout: float = 0.3):
        super().__init__()
        if resolution % 8:
            raise ValueError(f"resolution must be a multiple of 8, got {resolution}")
        self.trunk = nn.Sequential(
            _conv_bn_relu(in_channels, width), nn.MaxPool2d(2),
            _conv_bn_relu(width, 2 * width), _conv_bn_relu(2 * width, 2 * width), nn.MaxPool2d(2),
            _conv_bn_relu(2 * width, 4 * width), nn.MaxPool2d(2),
        )
        flat = 4 * width * (resolution // 8) ** 2
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(flat, feature_dim, bias=False),
                                   nn.BatchNorm1d(feature_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations [N, feature_dim]."""
        return self.embed(self.trunk(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))
