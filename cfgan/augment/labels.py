"""Human labels in, labelled training data out.

``merge_labels(run, 'labels.csv')`` reads a CSV with a header naming an ``id`` (the sample id, which is also
its file's stem) or ``file`` column and a ``label`` column (a class name, its folder name or its index; an
empty label leaves the sample unlabelled), checks every row against the run's manifest and classes, and
merges the labels into ``labels.json`` and the manifest (a later label for the same sample replaces an
earlier one). ``export_labelled(run, out)`` writes the labelled samples as ``out/<class folder>/<id>.png``,
a tree torchvision's ``ImageFolder`` loads as is, plus ``out/classes.json`` (folder -> class index).
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

from generators.files import write_json

from .manifest import LABELS, class_folder, read_classes, read_labels, read_manifest, replace_tree, write_manifest


def _class_of(text: str, class_names: List[str]) -> int:
    value = text.strip()
    lowered = [n.lower() for n in class_names]
    folders = [class_folder(i, class_names) for i in range(len(class_names))]
    if value.lower() in lowered:
        return lowered.index(value.lower())
    if value in folders:
        return folders.index(value)
    if value.isdigit() and int(value) < len(class_names):
        return int(value)
    raise ValueError(f"unknown class {value!r}; valid: {', '.join(f'{i}={n}' for i, n in enumerate(class_names))}")


def read_labels_csv(path, manifest: List[dict], class_names: List[str]) -> Dict[str, int]:
    """sample id -> class index from the CSV at ``path`` (errors name the file and line)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--labels: no such file: {path}")
    by_id = {s["id"]: s["id"] for s in manifest}
    by_file = {}
    for s in manifest:
        by_file[s["file"]] = s["id"]
        by_file[Path(s["file"]).name] = s["id"]
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [c.strip().lower() for c in (reader.fieldnames or [])]
        if "label" not in fields or not ({"id", "file"} & set(fields)):
            raise ValueError(f"--labels {path}: the first line must name the columns: id (or file) and label; "
                             f"found {', '.join(reader.fieldnames or []) or 'nothing'}")
        reader.fieldnames = fields
        labels: Dict[str, int] = {}
        unknown: List[str] = []
        for row in reader:
            line = reader.line_num
            name = (row.get("id") or "").strip() or (row.get("file") or "").strip()
            sample = by_id.get(name) or by_file.get(name) or by_file.get(Path(name).name)
            if sample is None:
                unknown.append(f"line {line}: {name!r}")
                continue
            text = (row.get("label") or "").strip()
            if not text:
                continue
            try:
                value = _class_of(text, class_names)
            except ValueError as err:
                raise ValueError(f"--labels {path}, line {line}: {err}") from None
            if labels.get(sample, value) != value:
                raise ValueError(f"--labels {path}, line {line}: sample {sample} is labelled twice, differently")
            labels[sample] = value
    if unknown:
        more = f" (and {len(unknown) - 3} more)" if len(unknown) > 3 else ""
        raise ValueError(f"--labels {path}: {len(unknown)} rows name no sample of this run: "
                         f"{'; '.join(unknown[:3])}{more}")
    return labels


def merge_labels(run, labels_csv) -> Tuple[int, int]:
    """Merge the CSV's labels into the run; returns (samples labelled now in all, samples in the run)."""
    run = Path(run)
    manifest, class_names = read_manifest(run), read_classes(run)
    merged = dict(read_labels(run), **read_labels_csv(labels_csv, manifest, class_names))
    write_json(run / LABELS, dict(sorted(merged.items())))
    write_manifest(run, manifest, merged, class_names)
    return len(merged), len(manifest)


def export_labelled(run, out, overwrite: bool = False) -> Dict[str, int]:
    """The labelled samples as an ImageFolder tree in ``out``; returns images per class folder."""
    run, out = Path(run), Path(out)
    manifest, class_names = read_manifest(run), read_classes(run)
    labelled = [s for s in manifest if s.get("label") is not None]
    if not labelled:
        raise ValueError(f"{run}: no sample is labelled yet; merge labels first (cfgan augment label {run} "
                         "--labels labels.csv)")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"--out {out} is not empty; choose a new folder or pass --overwrite")
    counts: Dict[str, int] = {}

    def build(tmp: Path):
        for sample in labelled:
            folder = class_folder(int(sample["label"]), class_names)
            (tmp / folder).mkdir(exist_ok=True)
            shutil.copyfile(run / sample["file"], tmp / folder / f"{sample['id']}.png")
            counts[folder] = counts.get(folder, 0) + 1
        write_json(tmp / "classes.json", {"classes": class_names, "folders": {
            f: int(f.split("-", 1)[0]) for f in sorted(counts)}, "source": str(run.resolve())})

    replace_tree(out, build)
    return dict(sorted(counts.items()))
