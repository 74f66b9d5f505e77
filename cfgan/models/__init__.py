"""Registry of classifier architectures that cfgan classifier files may name.

A classifier file stores only an architecture *name*, its keyword arguments and a state dict, so loading it
never runs code from the file: the code that builds the network lives here, in the package.
"""
from __future__ import annotations

from typing import Callable, Dict

from torch import nn

ARCHITECTURES: Dict[str, Callable[..., nn.Module]] = {}


def register_architecture(name: str):
    """Class/function decorator: make ``name`` loadable from cfgan classifier files."""
    def decorate(builder):
        if name in ARCHITECTURES and ARCHITECTURES[name] is not builder:
            raise ValueError(f"architecture {name!r} is already registered")
        ARCHITECTURES[name] = builder
        return builder
    return decorate


def build_architecture(name: str, **kwargs) -> nn.Module:
    """Instantiate a registered architecture; unknown names list the known ones."""
    if name not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES)) or "(none)"
        raise ValueError(f"unknown classifier architecture {name!r}; registered architectures: {known}")
    try:
        return ARCHITECTURES[name](**kwargs)
    except TypeError as err:
        raise ValueError(f"cannot build architecture {name!r} with arguments {kwargs}: {err}") from err


# Registering the bundled architectures is an import side effect: keep it last.
from cfgan.models import fmnist_cnn, fmnist_mlp  # noqa: E402,F401
