"""cfgan's own generator file: config + state dict in a weights-only torch file.

    {'format': 'cfgan.generator', 'version': 1, 'arch': 'stylegan2', 'config': G.config,
     'state_dict': {...}, 'meta': {...}}

It holds only tensors and JSON-like values, so ``torch.load(weights_only=True)`` reads it and loading never
runs code. ``meta`` is free-form JSON (provenance, licence, training notes).
"""
from __future__ import annotations

import json
from typing import Optional

from generators.base import Generator
from generators.files import file_sha256, torch_save
from generators.loaders.errors import CheckpointError
from generators.loaders.state_dicts import load_strict
from generators.stylegan2 import StyleGAN2Generator

FORMAT = "cfgan.generator"
VERSION = 1
#: architecture name in the file -> class rebuilt from ``config``.
ARCHITECTURES = {"stylegan2": StyleGAN2Generator}


def _architecture_of(G: Generator) -> str:
    for name, cls in ARCHITECTURES.items():
        if type(G) is cls:
            return name
    raise TypeError(f"cannot save a {type(G).__name__}: the cfgan format stores {sorted(ARCHITECTURES)} "
                    "generators (save other torch modules with torch.save / torch.jit.save)")


def checkpoint_dict(G: Generator, meta: Optional[dict] = None) -> dict:
    """The dict ``save`` writes. ``meta`` None keeps ``G.meta`` (provenance set by the loaders)."""
    arch = _architecture_of(G)
    meta = dict(getattr(G, "meta", None) or {}) if meta is None else dict(meta)
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"meta must be JSON-serialisable (str/int/float/bool/None, lists, dicts): {exc}") \
            from None
    state = {k: v.detach().cpu().clone().contiguous() for k, v in G.state_dict().items()}
    return {"format": FORMAT, "version": VERSION, "arch": arch, "config": json.loads(json.dumps(G.config)),
            "state_dict": state, "meta": meta}


def save(G: Generator, path, meta: Optional[dict] = None) -> str:
    """Write ``G`` in the cfgan format; returns the file's SHA-256 (what a zoo entry records).

    ``meta`` (JSON) defaults to ``G.meta``, which loaders fill with where the weights came from.
    """
    data = checkpoint_dict(G, meta)
    torch_save(data, path)
    return file_sha256(path)


def generator_from_native(data: dict, source: str = "checkpoint") -> Generator:
    """Rebuild the generator of a loaded cfgan checkpoint dict (``torch.load(..., weights_only=True)``)."""
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{source}: cfgan generator file with an invalid version {version!r}")
    if version > VERSION:
        raise CheckpointError(f"{source}: written by a newer cfgan (format version {version}; this one reads "
                              f"up to {VERSION}); upgrade cfgan")
    arch = data.get("arch")
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"{source}: unknown generator architecture {arch!r} "
                              f"(known: {sorted(ARCHITECTURES)})")
    config, state = data.get("config"), data.get("state_dict")
    if not isinstance(config, dict) or not isinstance(state, dict):
        raise CheckpointError(f"{source}: cfgan generator file without a config/state_dict")
    try:
        G = ARCHITECTURES[arch](**config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{source}: invalid generator config ({exc})") from None
    load_strict(G, state, source, f"the {arch} generator its config describes")
    G.meta = dict(data.get("meta") or {})
    return G
