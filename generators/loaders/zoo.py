"""``zoo:NAME`` -> ``generators/zoo/NAME.pt``, checked against the SHA-256 in ``generators/zoo/NAME.json``."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import List, Optional

from generators.loaders.errors import CheckpointError
from generators.loaders.native import file_sha256

ZOO_DIR = Path(__file__).resolve().parents[1] / "zoo"
PREFIX = "zoo:"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def available(zoo_dir: Optional[Path] = None) -> List[str]:
    """Names that have both a checkpoint and its JSON card."""
    zoo_dir = Path(zoo_dir or ZOO_DIR)
    return sorted(p.stem for p in zoo_dir.glob("*.json") if p.with_suffix(".pt").is_file())


def card(name: str, zoo_dir: Optional[Path] = None) -> dict:
    """The JSON card of a zoo model (sha256, provenance, licence...)."""
    zoo_dir = Path(zoo_dir or ZOO_DIR)
    names = available(zoo_dir)
    if not _NAME.match(name) or name not in names:
        listing = ", ".join(names) if names else "none installed"
        raise CheckpointError(f"unknown zoo model '{name}', available: {listing}")
    path = zoo_dir / f"{name}.json"
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable zoo card ({exc})") from None
    if not isinstance(info, dict) or not isinstance(info.get("sha256"), str):
        raise CheckpointError(f"{path}: zoo card without a 'sha256' string")
    return info


def resolve(spec: str, zoo_dir: Optional[Path] = None) -> Path:
    """Checkpoint path of ``zoo:NAME`` after verifying its checksum."""
    zoo_dir = Path(zoo_dir or ZOO_DIR)
    name = spec[len(PREFIX):] if spec.startswith(PREFIX) else spec
    expected = card(name, zoo_dir)["sha256"].lower()
    path = zoo_dir / f"{name}.pt"
    actual = file_sha256(path)
    if actual != expected:
        raise CheckpointError(f"{path}: checksum mismatch (expected sha256 {expected}, got {actual}); the "
                              "file is corrupt or was replaced")
    return path
