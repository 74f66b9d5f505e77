"""Bundled, checksum-verified classifiers and sample images (files in ``cfgan/zoo/``).

Each classifier ships as a weights file plus a provenance JSON (how it was trained, its test accuracy and the
sha256 of the weights); loading checks the hash so a damaged or swapped file fails loudly.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

ZOO_DIR = Path(__file__).with_name("zoo")
#: bundled classifier name -> (weights file, provenance file), both in ``ZOO_DIR``.
CLASSIFIERS: Dict[str, tuple] = {
    "fashion-mnist": ("fashion-mnist-classifier.pt", "fashion-mnist-classifier.json"),
}
SAMPLES_DIR_NAME = "samples"


class ChecksumError(ValueError):
    """A bundled file's sha256 differs from its provenance record."""


class ZooSample(NamedTuple):
    path: Path
    label: int
    class_name: str


def classifier_names() -> List[str]:
    return sorted(CLASSIFIERS)


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _entry(name: str, zoo_dir: Optional[Path]):
    if name not in CLASSIFIERS:
        raise ValueError(f"unknown bundled classifier {name!r}; available: "
                         f"{', '.join('zoo:' + n for n in classifier_names())}")
    folder = Path(zoo_dir) if zoo_dir is not None else ZOO_DIR
    weights, record = CLASSIFIERS[name]
    return folder / weights, folder / record


def provenance(name: str, zoo_dir=None) -> dict:
    """The provenance record of a bundled classifier (training command, config, accuracy, sha256, ...)."""
    _, record = _entry(name, zoo_dir)
    if not record.is_file():
        raise FileNotFoundError(f"provenance file {record} of bundled classifier {name!r} is missing; "
                                "reinstall cfgan or rerun scripts/train_classifier.py")
    try:
        return json.loads(record.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{record} is not valid JSON: {err}") from err


def classifier_path(name: str, zoo_dir=None, verify: bool = True) -> Path:
    """Path of a bundled classifier's weights, after checking its sha256 against the provenance record."""
    weights, _ = _entry(name, zoo_dir)
    if not weights.is_file():
        raise FileNotFoundError(f"weights {weights} of bundled classifier {name!r} are missing; "
                                "reinstall cfgan or rerun scripts/train_classifier.py")
    if verify:
        expected = provenance(name, zoo_dir).get("sha256")
        if not expected:
            raise ChecksumError(f"provenance record of {name!r} has no sha256 entry; cannot verify {weights}")
        actual = sha256_file(weights)
        if actual != expected:
            raise ChecksumError(f"{weights} is damaged or was replaced: sha256 {actual} does not match "
                                f"{expected} recorded in its provenance file; reinstall cfgan")
    return weights


def zoo_samples(zoo_dir=None) -> List[ZooSample]:
    """The bundled Fashion-MNIST test images (32x32 PNG) with their labels, in file-name order."""
    folder = (Path(zoo_dir) if zoo_dir is not None else ZOO_DIR) / SAMPLES_DIR_NAME
    index = folder / "labels.json"
    if not index.is_file():
        raise FileNotFoundError(f"{index} is missing; rerun scripts/export_samples.py")
    labels = json.loads(index.read_text())
    return [ZooSample(folder / name, int(entry["label"]), entry["class_name"])
            for name, entry in sorted(labels.items())]
