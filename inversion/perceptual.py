"""LPIPS without surprises.

The ``lpips`` package needs torchvision's ImageNet backbone weights, which it normally downloads.
Where they are not on disk (offline machines, CI), we say so once, explain how to provide them,
and let callers fall back, instead of failing deep inside torchvision or silently using random
features as if they were LPIPS.
"""
from __future__ import annotations

import os
import warnings
from functools import lru_cache
from typing import Optional

import torch

#: torchvision weight files the lpips backbones load.
BACKBONE_FILES = {
    "vgg": "vgg16-397923af.pth",
    "alex": "alexnet-owt-7be5be79.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}

_warned = set()


class LPIPSUnavailable(RuntimeError):
    """The ImageNet backbone weights that LPIPS needs are not on this machine."""


def backbone_path(net: str) -> str:
    if net not in BACKBONE_FILES:
        raise ValueError(f"unknown LPIPS network {net!r}: choose one of {', '.join(BACKBONE_FILES)}")
    return os.path.join(torch.hub.get_dir(), "checkpoints", BACKBONE_FILES[net])


def lpips_available(net: str = "vgg") -> bool:
    return os.path.isfile(backbone_path(net))


def unavailable_message(net: str) -> str:
    return (f"LPIPS({net}) needs torchvision's ImageNet weights {BACKBONE_FILES[net]}, which are not in "
            f"{os.path.dirname(backbone_path(net))} and cannot be downloaded here. Copy that file there "
            f"(or set TORCH_HOME) to use LPIPS.")


def warn_unavailable(net: str) -> None:
    """Say once per process (for the loss and the metric alike) that LPIPS is missing and what happens."""
    if net not in _warned:
        _warned.add(net)
        warnings.warn(unavailable_message(net) + " Meanwhile the perceptual loss term uses a multi-scale pixel "
                      "loss and LPIPS is reported as null.", stacklevel=3)


@lru_cache(maxsize=None)
def _build(net: str, random_backbone: bool, seed: int):
    import lpips  # imported lazily: it is slow and prints

    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        # lpips builds its backbone with torchvision's deprecated ``pretrained=`` argument: not the user's concern
        warnings.filterwarnings("ignore", message=r".*(pretrained|weight enum).*", category=UserWarning)
        torch.manual_seed(seed)
        model = lpips.LPIPS(net=net, pnet_rand=random_backbone, spatial=True, verbose=False)
    model.eval().requires_grad_(False)
    return model


def lpips_model(net: str = "vgg", random_backbone: bool = False, seed: int = 0):
    """An LPIPS module giving a spatial distance map; raises ``LPIPSUnavailable`` without weights.

    ``random_backbone=True`` uses a seeded randomly initialised backbone with LPIPS's calibrated
    heads: useful for tests and clearly not the published metric.
    """
    if not random_backbone and not lpips_available(net):
        raise LPIPSUnavailable(unavailable_message(net))
    return _build(net, random_backbone, seed)


def lpips_distance(a: torch.Tensor, b: torch.Tensor, mask: Optional[torch.Tensor] = None, net: str = "vgg",
                   random_backbone: bool = False) -> torch.Tensor:
    """Per-image LPIPS between image batches in [-1, 1] (grayscale is repeated to RGB)."""
    model = lpips_model(net, random_backbone).to(a.device)
    dist = model(_rgb(a), _rgb(b), normalize=False)  # [N, 1, H, W]
    if mask is None:
        return dist.flatten(1).mean(1)
    mask = mask.to(dist.dtype).expand_as(dist)
    return (dist * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1e-8)


def _rgb(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x.repeat(1, 3, 1, 1)
    if x.shape[1] != 3:
        raise ValueError(f"LPIPS needs 1- or 3-channel images, got {x.shape[1]} channels")
    return x
