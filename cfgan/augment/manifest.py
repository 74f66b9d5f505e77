"""The files of an augmentation run a person works with: ``samples/<class>/<id>.png`` (an ImageFolder tree by
the explained classifier's predicted class), ``manifest.jsonl`` (one line per sample, in hand-out order) and
``classes.json`` (the classifier's class names and their folders).

Class folders are ``<index>-<slug>`` (``0-t-shirt-top``): safe on every file system whatever the class name
(``T-shirt/top``), and sorted like the class indices, so torchvision's ImageFolder numbers a tree that holds
every class exactly like the classifier does.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from generators.files import atomic_write, write_json

MANIFEST, CLASSES, LABELS, SAMPLES = "manifest.jsonl", "classes.json", "labels.json", "samples"
#: names an item folder must not take in a run folder
RESERVED = frozenset({MANIFEST, CLASSES, LABELS, SAMPLES})


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-") or "class"


def class_folder(index: int, class_names: Sequence[str]) -> str:
    """``<index>-<slug>``, the index zero-padded to the width of the largest one."""
    width = len(str(max(len(class_names) - 1, 0)))
    name = class_names[index] if index < len(class_names) else str(index)
    return f"{index:0{width}d}-{slug(name)}"


def write_classes(folder: Path, class_names: Sequence[str]) -> None:
    write_json(Path(folder) / CLASSES, {"classes": list(class_names),
                                        "folders": {class_folder(i, class_names): i for i in range(len(class_names))}})


def read_classes(folder: Path) -> List[str]:
    path = Path(folder) / CLASSES
    if not path.is_file():
        raise ValueError(f"{folder} is not a finished cfgan augment run (no {CLASSES}); run cfgan augment first")
    return list(json.loads(path.read_text())["classes"])


def read_manifest(folder: Path) -> List[dict]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ValueError(f"{folder} is not a finished cfgan augment run (no {MANIFEST}); run cfgan augment first")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_labels(folder: Path) -> Dict[str, int]:
    """Sample id -> class index of the labels merged so far (``labels.json``), empty when none."""
    path = Path(folder) / LABELS
    return {k: int(v) for k, v in json.loads(path.read_text()).items()} if path.is_file() else {}


def write_manifest(folder: Path, samples: Sequence[dict], labels: Optional[Dict[str, int]] = None,
                   class_names: Sequence[str] = ()) -> None:
    """``manifest.jsonl`` from ``samples`` in their order, each with its human label (or null), atomically."""
    labels = labels or {}
    with atomic_write(Path(folder) / MANIFEST) as f:
        for n, sample in enumerate(samples):
            label = labels.get(sample["id"])
            line = dict(sample, order=n, label=label,
                        label_class=None if label is None else (class_names[label] if class_names else str(label)))
            f.write(json.dumps(line, sort_keys=True) + "\n")


def replace_tree(folder: Path, build) -> None:
    """Build a folder with ``build(tmp)`` beside ``folder``, then put it in ``folder``'s place (the old one is
    renamed away first and removed after), so a reader sees the old tree or the new one, never a mix."""
    folder = Path(folder)
    tmp = folder.parent / f".{folder.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        build(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if folder.exists():
        old = folder.parent / f".{folder.name}-old-{uuid.uuid4().hex[:8]}"
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def assemble(out: Path, samples: Sequence[dict], class_names: Sequence[str]) -> List[dict]:
    """Copy each sample's image from its item folder into ``samples/<predicted class>/<id>.png`` and write
    the manifest; returns the samples with their ``file``. Merged labels (``labels.json``) are kept."""
    out = Path(out)
    placed = [dict(s, file=f"{SAMPLES}/{class_folder(s['predicted'], class_names)}/{s['id']}.png") for s in samples]

    def build(tmp: Path):
        for sample in placed:
            target = tmp / Path(sample["file"]).relative_to(SAMPLES)
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(out / sample["image"], target)

    replace_tree(out / SAMPLES, build)
    write_classes(out, class_names)
    write_manifest(out, placed, read_labels(out), class_names)
    return placed
