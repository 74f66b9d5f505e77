"""``cfgan evaluate``: several saliency methods on a folder of images, measured the same way: pixel-flip curves
(gray, black, white and GAN fill), deletion/insertion AUCs, robustness to a Ghorbani attack, captum's
sensitivity-max and seconds per image. Writes ``evaluation.csv`` (one row per method), ``evaluation.png``
(a flip curve per method, one panel per fill) and ``evaluation.json``.

Work items are (method, image) pairs, method by method. Why not one item per image: the methods differ in
cost by four orders of magnitude (a gradient in milliseconds, FIDO or MIP in seconds), so an interrupted run
keeps every finished (method, image) and a resumed one redoes only the pair that was cut; and each batch
holds one method, so its seconds per image are that method's alone. Every number of an image depends only on
``seed + the image's index`` (the same for every method: ties are broken alike), never on its batch.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np

from cfgan.saliency.evaluation import EvalSettings, csv_rows, evaluate_batch, gan_fill, plot, summarize
from generators.files import atomic_write, write_json

from .invert import inputs_digest
from .items import IMAGE_SUFFIXES, file_keys, images_in
from .runner import BatchOutput, Item, Job, JobError
from .saliency import build_method, load_for


def image_files(folder: str, max_images: Optional[int] = None) -> List[str]:
    """The image files of ``folder`` in name order (the first ``max_images``); JobError when there are none."""
    if not os.path.isdir(folder):
        raise JobError(f"--images: no such folder: {folder}")
    files = images_in(folder)
    if not files:
        raise JobError(f"--images: no image files ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files[:max_images] if max_images else files


def parse_methods(text: str) -> List[str]:
    from cfgan.saliency import METHODS

    names = [m.strip() for m in str(text).split(",") if m.strip()]
    if not names:
        raise JobError("--methods: no method given")
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise JobError(f"--methods: unknown saliency method {unknown[0]!r}; valid methods: {', '.join(METHODS)}")
    if len(set(names)) != len(names):
        raise JobError("--methods: a method is listed twice")
    return names


class EvaluateJob(Job):
    command = "evaluate"

    def __init__(self, classifier, methods: Sequence[str], images: str, generator=None,
                 max_images: Optional[int] = None, settings: Optional[EvalSettings] = None, batch: int = 8,
                 options: Optional[dict] = None):
        self.classifier, self.generator = classifier, generator
        self.methods = parse_methods(",".join(methods) if not isinstance(methods, str) else methods)
        self.options = {m: dict((options or {}).get(m, {})) for m in self.methods}
        for m in self.methods:  # a method that cannot be built fails now, naming the option
            build_method(m, classifier, generator, 0, None, self.options[m])
        self.files = image_files(images, max_images)
        self.keys = file_keys(self.files)
        self.cfg = (settings or EvalSettings()).check()
        if generator is None and "gan" in self.cfg.fills:  # no generator: no GAN fill, said in the settings
            self.cfg.fills = tuple(f for f in self.cfg.fills if f != "gan")
        self.batch_size = batch
        self._fill = None

    def settings(self) -> dict:
        return {"classifier": self.classifier.name, "generator": getattr(self.generator, "source", None),
                "methods": self.methods, "options": self.options, "images": len(self.files),
                "inputs_sha": inputs_digest(self.files), **self.cfg.record()}

    def count(self) -> int:
        return len(self.methods) * len(self.files)

    def items(self):
        n = len(self.files)
        for m, method in enumerate(self.methods):
            for i, (key, path) in enumerate(zip(self.keys, self.files)):
                yield Item(f"{method}--{key}", m * n + i, (method, path, i))

    def _gan_fill(self):
        if self._fill is None and self.generator is not None and "gan" in self.cfg.fills:
            self._fill = gan_fill(self.generator, seed=self.cfg.seed, max_batch=self.cfg.max_batch)
        return self._fill

    def run(self, items: List[Item], step_progress: Callable) -> BatchOutput:
        outputs: List[Optional[dict]] = [None] * len(items)
        groups = {}
        for pos, item in enumerate(items):
            groups.setdefault(item.payload[0], []).append(pos)
        for name, positions in groups.items():
            chosen = [items[p] for p in positions]
            indices = [item.payload[2] for item in chosen]
            x = load_for(self.classifier, [item.payload[1] for item in chosen], self.generator)
            method = build_method(name, self.classifier, self.generator, self.cfg.seed + indices[0],
                                  self.cfg.max_batch, self.options[name])
            seeds = [self.cfg.seed + i for i in indices]
            records = evaluate_batch(method, name, self.classifier, x, seeds, self.cfg, self._gan_fill(),
                                     progress=step_progress, indices=indices)
            for p, record in zip(positions, records):
                outputs[p] = record
        return BatchOutput(outputs)

    def write(self, item: Item, output, folder: Path) -> dict:
        np.save(folder / "map.npy", output.pop("map").astype(np.float32))
        return dict(output, image=self.keys[item.payload[2]], file=item.payload[1])

    def describe(self, record: dict) -> str:
        flips = record.get("flip_gray")
        half = f", flips by tau 50%: {flips[len(flips) // 2]}" if flips else ""
        rob = f", top-k kept {record['topk_overlap']:.2f}" if record.get("topk_overlap") is not None else ""
        return f"deletion AUC {record['deletion_auc']:.3f}{rob}{half}, {record['seconds']:.3f} s"

    def finish(self, out: Path, records: dict) -> dict:
        taus, fills = [float(t) for t in self.cfg.taus], list(self.cfg.fills)
        summary = summarize(list(records.values()), taus, fills)
        if not summary:
            return {}
        ordered = {m: summary[m] for m in self.methods if m in summary}
        with atomic_write(out / "evaluation.csv") as f:
            for row in csv_rows(ordered, taus, fills):
                f.write(",".join(str(c) for c in row) + "\n")
        plot(ordered, taus, fills, out / "evaluation.png")
        write_json(out / "evaluation.json", {"taus": taus, "fills": fills, "methods": ordered})
        table = {m: {k: v for k, v in row.items() if not k.startswith("flip_")} for m, row in ordered.items()}
        return {"csv": "evaluation.csv", "plot": "evaluation.png", "methods": table}

