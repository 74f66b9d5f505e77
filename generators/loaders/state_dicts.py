"""Loading a foreign state dict into a native network with errors a user can read."""
from __future__ import annotations

from typing import Dict

import torch
from torch import nn

from generators.loaders.errors import CheckpointError


def _preview(names, limit: int = 6) -> str:
    names = sorted(names)
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def load_strict(module: nn.Module, tensors: Dict[str, torch.Tensor], source: str, what: str) -> None:
    """``module.load_state_dict(tensors, strict=True)``, but a mismatch names the file and the keys.

    ``what`` says which network the tensors were meant to describe (e.g. "a StyleGAN2 generator").
    """
    expected = module.state_dict()
    missing = set(expected) - set(tensors)
    unexpected = set(tensors) - set(expected)
    problems = []
    if missing:
        problems.append(f"missing {_preview(missing)}")
    if unexpected:
        problems.append(f"unexpected {_preview(unexpected)}")
    for key in sorted(set(expected) & set(tensors)):
        value = tensors[key]
        if not torch.is_tensor(value):
            problems.append(f"{key} is a {type(value).__name__}, not a tensor")
        elif tuple(value.shape) != tuple(expected[key].shape):
            problems.append(f"{key} has shape {list(value.shape)}, expected {list(expected[key].shape)}")
    if problems:
        raise CheckpointError(f"{source}: its weights do not fit {what}: " + "; ".join(problems[:8]))
    module.load_state_dict(tensors, strict=True)
