"""Latent files: the one format every cfgan command reads and writes for codes.

A latent file records the space, the codes, optional noise maps and class vectors, which
generator produced them (name and checksum, so a mismatch is caught), per-image metrics and the
settings that made them. It is a plain torch file read with ``weights_only=True``.
"""
from __future__ import annotations

import os
import warnings
from typing import Optional, Tuple

import torch

from generators.files import torch_save
from generators.loaders.errors import CheckpointError
from generators.loaders.torch_files import torch_load

from .latents import LatentCode

FORMAT = "cfgan.latents"
VERSION = 1


def generator_identity(G) -> dict:
    """Name and checksum of the generator a code belongs to (as recorded by ``generators.load``)."""
    source = getattr(G, "source", None) or {}
    return {"name": source.get("name"), "sha256": source.get("sha256"), "kind": type(G).__name__,
            "resolution": getattr(G, "resolution", None), "num_ws": getattr(G, "num_ws", None)}


def save_latents(path: str, code: LatentCode, G=None, metrics: Optional[dict] = None,
                 settings: Optional[dict] = None, extra: Optional[dict] = None) -> str:
    """Write codes with their generator identity, metrics and settings (atomically: never half a file)."""
    payload = {
        "format": FORMAT, "version": VERSION, "space": code.space,
        "codes": code.values.detach().cpu(),
        "noise": None if code.noise is None else [m.detach().cpu() for m in code.noise],
        "c": None if code.c is None else code.c.detach().cpu(),
        "truncation_psi": float(code.truncation_psi),
        "generator": generator_identity(G) if G is not None else None,
        "metrics": metrics or {}, "settings": settings or {}, "extra": extra or {},
    }
    torch_save(payload, path)
    return path


def load_latents(path: str, G=None, device=None) -> Tuple[LatentCode, dict]:
    """Read a latent file; with ``G``, check it was made for that generator."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"latent file not found: {path}")
    try:
        payload = torch_load(path)
    except CheckpointError as err:
        detail = str(err).replace(f"{path}: ", "").replace(f"{path} ", "")
        raise ValueError(f"{path} is not a readable cfgan latent file ({detail})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a cfgan latent file (format marker {FORMAT!r} missing)")
    if not isinstance(payload.get("version"), int) or payload["version"] > VERSION:
        raise ValueError(f"{path}: latent format version {payload.get('version')!r} is not one this cfgan reads "
                         f"(up to v{VERSION})")
    _check_payload(path, payload)
    code = LatentCode(payload["space"], payload["codes"], payload.get("noise"), payload.get("c"),
                      payload.get("truncation_psi", 1.0))
    if G is not None:
        _check_generator(path, payload.get("generator") or {}, G)
        device = device or G.device
    if device is not None:
        code = LatentCode(code.space, code.values.to(device),
                          None if code.noise is None else [m.to(device) for m in code.noise],
                          None if code.c is None else code.c.to(device), code.truncation_psi)
    return code, payload


def _check_payload(path: str, payload: dict) -> None:
    """Damaged or hand-edited files fail here with the file's name, not later deep inside a method."""
    space, codes = payload.get("space"), payload.get("codes")
    dims = {"z": 2, "w": 2, "w+": 3}
    if space not in dims:
        raise ValueError(f"{path}: unknown latent space {space!r} (expected z, w or w+)")
    if not torch.is_tensor(codes) or codes.dim() != dims[space] or codes.shape[0] == 0 \
            or not codes.is_floating_point():
        shape = tuple(codes.shape) if torch.is_tensor(codes) else type(codes).__name__
        raise ValueError(f"{path}: codes must be a non-empty float tensor of {dims[space]} dimensions for space "
                         f"{space}, found {shape}")
    if not bool(torch.isfinite(codes).all()):
        raise ValueError(f"{path}: codes contain NaN or infinite values")
    n = codes.shape[0]
    for key in ("noise", "c"):
        value = payload.get(key)
        items = value if isinstance(value, list) else [] if value is None else [value]
        if any(not torch.is_tensor(v) or v.shape[0] != n for v in items):
            raise ValueError(f"{path}: '{key}' does not hold one entry per code ({n} codes)")
    files = (payload.get("extra") or {}).get("files")
    if files is not None and (not isinstance(files, list) or len(files) != n):
        count = len(files) if isinstance(files, list) else type(files).__name__
        raise ValueError(f"{path}: extra.files lists {count} source files for {n} codes")


def _check_generator(path: str, recorded: dict, G) -> None:
    mine = generator_identity(G)
    if recorded.get("sha256") and mine.get("sha256") and recorded["sha256"] != mine["sha256"]:
        warnings.warn(f"{path} was made with generator {recorded.get('name')} (sha256 "
                      f"{recorded['sha256'][:12]}…) but is used with {mine.get('name')} (sha256 "
                      f"{mine['sha256'][:12]}…): the codes may not mean the same images", stacklevel=3)
    for key in ("resolution", "num_ws"):
        if recorded.get(key) is not None and mine.get(key) is not None and recorded[key] != mine[key]:
            raise ValueError(f"{path} holds codes for a generator with {key}={recorded[key]}, "
                             f"but this generator has {key}={mine[key]}")
