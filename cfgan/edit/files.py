"""Atomic file writes: a temporary name in the destination folder, then ``os.replace``.

An interrupted run never leaves a half-written file under a final name. The temporary name keeps the
suffix, so writers that pick a format from it (PIL, imageio, matplotlib) still see ``.png`` / ``.mp4``.
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Iterator

import numpy as np
import torch


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path next to ``path`` (same suffix); on success it replaces ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    stem, ext = os.path.splitext(os.path.basename(path))
    tmp = os.path.join(folder, f".{stem}.tmp{os.getpid()}{ext}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str, payload) -> str:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(payload, f, indent=2, default=json_default)
    return path


def save_torch(path: str, payload) -> str:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def json_default(value):
    if torch.is_tensor(value):
        return value.tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)
