"""Pick the implementation (compiled CUDA kernel or pure-PyTorch reference) for one op call.

One rule for every op, so that a user can reason about it: CPU tensors always use the reference path,
CUDA tensors use the kernel when the plugin builds, and ``CFGAN_OPS_IMPL=ref`` forces the reference path
everywhere (the first thing to try when a result looks suspicious).
"""
from __future__ import annotations

import os
from typing import Optional

import torch

from . import plugin

ENV_VAR = "CFGAN_OPS_IMPL"
IMPLS = (None, "ref", "cuda")
_ENV_VALUES = ("", "auto", "cuda", "ref")


def forced_ref() -> bool:
    """True when the environment asks for the reference path everywhere."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value not in _ENV_VALUES:
        raise ValueError(f"environment variable {ENV_VAR}={value!r} is not understood: "
                         f"use 'ref' (reference path everywhere) or 'auto' / unset (CUDA kernels when "
                         f"possible)")
    return value == "ref"


def choose_impl(x: torch.Tensor, impl: Optional[str], op: str) -> str:
    """'cuda' or 'ref' for this call; raises ValueError for requests that cannot be honoured."""
    if impl not in IMPLS:
        raise ValueError(f"{op}: impl must be None, 'ref' or 'cuda', got {impl!r}")
    if impl == "cuda" and not x.is_cuda:
        raise ValueError(f"{op}(impl='cuda') needs a CUDA tensor but x is on {x.device}; "
                         f"pass impl=None to choose automatically or impl='ref'")
    if forced_ref() or impl == "ref" or not x.is_cuda:
        return "ref"
    return "cuda" if plugin.get() is not None else "ref"


def status() -> dict:
    """Which path each op takes (or would take) for CUDA tensors, and why."""
    if forced_ref():
        path, reason = "ref", f"forced by {ENV_VAR}=ref"
    else:
        path, reason = plugin.state()
    return {"bias_act": path, "upfirdn2d": path, "reason": reason}
