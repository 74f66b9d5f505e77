"""``cfgan cross``: subjects in (image files, seeds or a latent file), one decision-crossing path each out.

Each path's folder holds its frames, videos, filmstrip, probability plot, change map, latents and report
(``cfgan.paths.write_path``); the summary counts crossed and monotone paths.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from cfgan.data import load_images_for
from cfgan.paths import cross
from cfgan.paths.outputs import write_path
from generators.files import file_sha256
from inversion import load_latents

from .invert import inputs_digest
from .items import SeedList, check_files, file_items, latent_keys
from .runner import BatchOutput, Item, Job, JobError

#: the per-path report fields the run summary lists
SUMMARY_FIELDS = ("crossed", "monotone", "repaired", "crossing_index", "target_name", "source_name",
                  "identity_at_crossing", "lambda", "generator_evals", "classifier_queries", "notes")


class CrossJob(Job):
    command = "cross"

    def __init__(self, G, classifier, target, source=None, images: Sequence[str] = (),
                 seeds: Optional[SeedList] = None, latents: Optional[str] = None, method: str = "regularized",
                 frames: int = 16, space: str = "w+", batch: int = 16, seed: int = 0, invert_steps: int = 300,
                 invert_agreement: float = 0.1, lpips: bool = True, fps: float = 6.0, **options):
        given = sum(bool(x) for x in (images, seeds, latents))
        if given != 1:
            raise JobError("give exactly one of: image files, --seed, or --latents FILE")
        self.G, self.classifier, self.target, self.source = G, classifier, target, source
        # bad class names fail now, before any work
        self.target_index = classifier.class_index(target)
        self.source_index = None if source is None else classifier.class_index(source)
        self.images = check_files(list(images)) if images else []
        self.seeds = seeds
        self.latents = latents
        self.code = None
        self.files: List[Optional[str]] = []
        if latents:
            if not os.path.isfile(latents):
                raise JobError(f"--latents: no such file: {latents}")
            self.code, payload = load_latents(latents, G)
            self.files = list((payload.get("extra") or {}).get("files") or [])
        if method != "blackbox" and not classifier.has_gradients:
            raise JobError(f"classifier {classifier.name} has no gradients (a plain numpy callable): use "
                           "--method blackbox")
        self.method, self.frames, self.space, self.batch_size = method, frames, space, batch
        self.seed, self.invert_steps, self.invert_agreement = seed, invert_steps, invert_agreement
        self.lpips, self.fps, self.options = lpips, fps, options

    def settings(self) -> dict:
        if self.images:
            inputs = {"images": len(self.images), "inputs_sha": inputs_digest(self.images)}
        elif self.seeds is not None:
            inputs = {"seeds": self.seeds.text}
        else:
            inputs = {"latents": os.path.abspath(self.latents), "latents_sha256": file_sha256(self.latents)}
        return {"generator": getattr(self.G, "source", None), "classifier": self.classifier.name,
                "target": self.target_index, "source": self.source_index, "method": self.method,
                "frames": self.frames, "space": self.space, "seed": self.seed, "invert_steps": self.invert_steps,
                "invert_agreement": self.invert_agreement, "lpips": self.lpips, **inputs,
                **{k: v for k, v in sorted(self.options.items())}}

    def count(self) -> int:
        if self.images:
            return len(self.images)
        return len(self.seeds) if self.seeds is not None else len(self.code)

    def items(self):
        if self.images:
            return file_items(self.images)
        if self.seeds is not None:
            return self.seeds.items()
        keys = latent_keys(self.files, len(self.code))
        return (Item(key, i, i) for i, key in enumerate(keys))

    def _start(self, items: List[Item]):
        """(start for ``paths.cross``, reference images or None)."""
        if self.images:
            return load_images_for(self.G, [item.payload for item in items]), None
        if self.seeds is not None:
            return [item.payload for item in items], None
        rows = [item.payload for item in items]
        files = [self.files[r] for r in rows] if self.files else []
        reference = None
        if files and all(os.path.isfile(f) for f in files):  # identity against the images that were inverted
            reference = load_images_for(self.G, files)
        return self.code.select(rows), reference

    def run(self, items: List[Item], step_progress: Callable) -> BatchOutput:
        start, reference = self._start(items)
        # per-path randomness is drawn from seed + position in the batch: starting each batch at its first
        # item's index makes every path's stream seed + index, whatever the batching
        result = cross(self.G, self.classifier, start, self.target_index, self.source_index, method=self.method,
                       frames=self.frames, space=self.space, seed=self.seed + items[0].index, reference=reference,
                       invert_steps=self.invert_steps, invert_agreement=self.invert_agreement, lpips=self.lpips,
                       progress=step_progress, **self.options)
        return BatchOutput([(result, i) for i in range(len(items))], result.interrupted)

    def subject(self, item: Item) -> str:
        if self.images:
            return item.payload
        if self.seeds is not None:
            return f"seed {item.payload}"
        return f"{self.latents}[{item.payload}]"

    def write(self, item: Item, output, folder: Path) -> dict:
        result, i = output
        write_path(result, i, str(folder), self.G, self.fps, {"name": item.key, "subject": self.subject(item)})
        report = result.path_report(i)
        return {"folder": item.key, **{k: report[k] for k in SUMMARY_FIELDS},
                "first_prob": report["probs"][0], "last_prob": report["probs"][-1]}

    def describe(self, record: dict) -> str:
        return (f"{'crossed' if record['crossed'] else 'did not cross'}, "
                f"{'monotone' if record['monotone'] else 'NOT monotone'}, "
                f"p {record['first_prob']:.2f} -> {record['last_prob']:.2f}")

    def finish(self, out: Path, records: dict) -> dict:
        n = len(records)
        crossed = sum(r["crossed"] for r in records.values())
        return {"method": self.method, "paths": n, "crossed": crossed,
                "monotone": sum(r["monotone"] for r in records.values()),
                "crossing_rate": crossed / n if n else None}

