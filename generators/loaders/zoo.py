"""Bundled, checksum-verified weights: a folder of ``NAME.pt`` files, each with a card ``NAME.json``.

The card records the file's SHA-256 and its provenance (command, data, metrics, licence). Every load
checks the hash, so a damaged or swapped file fails loudly. Generators live in ``generators/zoo/``;
cfgan keeps its classifiers in a zoo of the same kind.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import List

from generators.files import file_sha256
from generators.loaders.errors import CheckpointError

PREFIX = "zoo:"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Zoo:
    """The ``NAME.pt`` + ``NAME.json`` pairs of one folder; ``kind`` names what they hold in messages."""

    def __init__(self, folder: Path, kind: str):
        self.folder, self.kind = Path(folder), kind

    def names(self) -> List[str]:
        """Names that have both weights and a card."""
        return sorted(p.stem for p in self.folder.glob("*.json") if p.with_suffix(".pt").is_file())

    def card(self, name: str) -> dict:
        """The JSON card of ``name`` (sha256, provenance, metrics...)."""
        name = name[len(PREFIX):] if name.startswith(PREFIX) else name
        names = self.names()
        if not _NAME.match(name) or name not in names:
            listing = ", ".join(PREFIX + n for n in names) if names else "none installed"
            raise CheckpointError(f"unknown zoo {self.kind} '{name}', available: {listing}")
        path = self.folder / f"{name}.json"
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: unreadable zoo card ({exc})") from None
        if not isinstance(info, dict) or not isinstance(info.get("sha256"), str):
            raise CheckpointError(f"{path}: zoo card without a 'sha256' string")
        return info

    def path(self, name: str, verify: bool = True) -> Path:
        """Weights of ``name`` (``zoo:NAME`` or ``NAME``), after checking their SHA-256 against the card."""
        info = self.card(name)
        name = name[len(PREFIX):] if name.startswith(PREFIX) else name
        path = self.folder / f"{name}.pt"
        if verify:
            expected, actual = info["sha256"].lower(), file_sha256(path)
            if actual != expected:
                raise CheckpointError(f"{path}: checksum mismatch (expected sha256 {expected}, got {actual}); the "
                                      "file is damaged or was replaced: reinstall cfgan")
        return path


GENERATORS = Zoo(Path(__file__).resolve().parents[1] / "zoo", "generator")
