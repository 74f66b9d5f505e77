"""Bundled, checksum-verified classifiers and sample images (files in ``cfgan/zoo/``).

Classifiers form a zoo of the same kind as the generators' (``generators.loaders.zoo.Zoo``): weights
plus a card with their provenance and sha256, checked on every load.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, NamedTuple

from generators.loaders.zoo import Zoo

ZOO_DIR = Path(__file__).with_name("zoo")
CLASSIFIERS = Zoo(ZOO_DIR / "classifiers", "classifier")
SAMPLES_DIR = ZOO_DIR / "samples"


class ZooSample(NamedTuple):
    path: Path
    label: int
    class_name: str


def zoo_samples(folder=None) -> List[ZooSample]:
    """The bundled Fashion-MNIST test images (32x32 PNG) with their labels, in file-name order."""
    folder = Path(folder) if folder is not None else SAMPLES_DIR
    index = folder / "labels.json"
    if not index.is_file():
        raise FileNotFoundError(f"{index} is missing; rerun scripts/export_samples.py")
    labels = json.loads(index.read_text())
    return [ZooSample(folder / name, int(entry["label"]), entry["class_name"])
            for name, entry in sorted(labels.items())]
