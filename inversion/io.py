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
    """Write atomically (temp file + rename) so an interrupted write never leaves a broken file."""
    payload = {
        "format": FORMAT, "version": VERSION, "space": code.space,
        "codes": code.values.detach().cpu(),
        "noise": None if code.noise is None else [m.detach().cpu() for m in code.noise],
        "c": None if code.c is None else code.c.detach().cpu(),
        "truncation_psi": float(code.truncation_psi),
        "generator": generator_identity(G) if G is not None else None,
        "metrics": metrics or {}, "settings": settings or {}, "extra": extra or {},
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_latents(path: str, G=None, device=None) -> Tuple[LatentCode, dict]:
    """Read a latent file; with ``G``, check it was made for that generator."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"latent file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for foreign or broken files
        raise ValueError(f"{path} is not a readable cfgan latent file ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a cfgan latent file (format marker {FORMAT!r} missing)")
    if payload.get("version", 0) > VERSION:
        raise ValueError(f"{path} was written by a newer cfgan (latent format v{payload['version']})")
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
