"""``cfgan augment``: images (an ImageFolder tree, a folder of images) or a latent file in; boundary samples
out, for a person to label.

Per image: its class decides the boundary it is mined at (``cfgan.augment.pairs``); it is inverted and K
crossing paths run from jittered starts pushed apart by the diversity term (``cfgan.paths.cross``); the
frames near the boundary (``cfgan.augment.frames``) are written into the image's folder as
``<id>.png`` with their codes in ``latents.pt``, and listed in its record. ``finish`` orders all samples
(``--prefer``), cuts them to ``--max-samples`` and assembles ``samples/<class>/`` and ``manifest.jsonl``
(``cfgan.augment.manifest``) from the records alone, so a resumed or sharded run gives the same files.

Batches are fixed blocks of ``batch`` consecutive images (``Job.fixed_blocks``): batched optimisation is not
bitwise independent of the batch's other members (float rounding in batched convolutions, amplified by
Adam), so a block is always computed whole, whatever was done before a kill or which rank owns it.
Every image's random streams are ``seed + its index``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import torch

from cfgan.augment.frames import path_samples
from cfgan.augment.manifest import RESERVED, assemble
from cfgan.augment.order import PREFER, select
from cfgan.augment.pairs import ClassPairs
from cfgan.data import load_images_for, save_image
from cfgan.paths import cross
from cfgan.paths.judges import label_counts
from generators.files import file_sha256
from inversion import load_latents, save_latents

from .invert import inputs_digest
from .items import file_keys, image_tree, latent_keys
from .runner import BatchOutput, Item, Job, JobError

METHODS = ("ascent", "regularized")


def _keys(keys: Sequence[str]) -> List[str]:
    """Item keys that cannot take the name of a file the run writes itself."""
    taken = set(keys)
    out = []
    for key in keys:
        if key in RESERVED:
            new, n = f"{key}_src", 1
            while new in taken:
                new, n = f"{key}_src{n}", n + 1
            taken.add(new)
            key = new
        out.append(key)
    return out


class AugmentJob(Job):
    command = "augment"
    fixed_blocks = True
    produced_unit = "samples"

    def __init__(self, G, classifier, data: str, pairs: str, paths_per_image: int = 4, eps: float = 0.1,
                 method: str = "ascent", frames: int = 16, space: str = "w+", batch: int = 8, seed: int = 0,
                 invert_steps: int = 300, invert_agreement: float = 0.1, judges: Sequence = (),
                 diversity: float = 5.0, prefer: str = "boundary", max_samples: Optional[int] = None,
                 limit: Optional[int] = None, lpips: bool = False, memory=None, **options):
        if method not in METHODS:
            raise JobError(f"--method: augment runs {' or '.join(METHODS)} paths, not {method!r}")
        if not classifier.has_gradients:
            raise JobError(f"--classifier: {classifier.name} has no gradients; augment needs them")
        if not 0 <= eps <= 0.5:
            raise JobError(f"--eps: must be within [0, 0.5], got {eps}")
        if paths_per_image < 1:
            raise JobError(f"--paths-per-image: must be >= 1, got {paths_per_image}")
        if prefer not in PREFER:
            raise JobError(f"--prefer: one of {', '.join(PREFER)}, got {prefer!r}")
        if prefer == "blind-spot" and not judges:
            raise JobError("--prefer: blind-spot needs at least one --judge to tell blind spots from genuine changes")
        if max_samples is not None and max_samples < 1:
            raise JobError(f"--max-samples: must be >= 1, got {max_samples}")
        if limit is not None and limit < 1:
            raise JobError(f"--limit: must be >= 1, got {limit}")
        self.G, self.classifier, self.data = G, classifier, str(data)
        if classifier.num_classes is None:  # a plain module: one pass tells how many classes it has
            with torch.no_grad():
                classifier(torch.zeros(1, G.channels, G.resolution, G.resolution, device=G.device))
        try:
            self.pairs = ClassPairs.parse(pairs, classifier)
        except ValueError as err:
            raise JobError(str(err)) from None
        k = classifier.num_classes
        self.class_names = list(classifier.class_names) if classifier.class_names else [str(i) for i in range(k)]
        self.paths: List[str] = []
        self.given: List[Optional[str]] = []
        self.code = None
        self.files: List[str] = []
        if os.path.isdir(self.data):
            self.paths, self.given = image_tree(self.data)
            keys = file_keys(self.paths)
        elif os.path.isfile(self.data):
            try:
                self.code, payload = load_latents(self.data, G)
            except (ValueError, RuntimeError) as err:
                raise JobError(f"DATA: {self.data} is neither a folder of images nor a latent file of this "
                               f"generator ({err})") from None
            self.files = list((payload.get("extra") or {}).get("files") or [])
            keys = latent_keys(self.files, len(self.code))
        else:
            raise JobError(f"DATA: no such folder or latent file: {self.data}")
        n = len(keys)
        self.total = n if limit is None else min(n, limit)
        self.keys = _keys(keys[:self.total])
        self.eps, self.method, self.frames, self.space, self.batch_size = eps, method, frames, space, batch
        self.seed, self.invert_steps, self.invert_agreement = seed, invert_steps, invert_agreement
        self.judges, self.diversity, self.prefer = list(judges), diversity, prefer
        self.paths_per_image, self.max_samples, self.limit = paths_per_image, max_samples, limit
        self.lpips, self.memory, self.options = lpips, memory, options

    # -- the runner's view ---------------------------------------------------------------------------------
    def settings(self) -> dict:
        if self.code is None:
            inputs = {"data": os.path.abspath(self.data), "images": len(self.paths),
                      "inputs_sha": inputs_digest(self.paths)}
        else:
            inputs = {"data": os.path.abspath(self.data), "latents_sha256": file_sha256(self.data)}
        return {"generator": getattr(self.G, "source", None), "classifier": self.classifier.name,
                "pairs": self.pairs.text, "paths_per_image": self.paths_per_image, "eps": self.eps,
                "method": self.method, "frames": self.frames, "space": self.space, "seed": self.seed,
                "block": self.batch_size, "invert_steps": self.invert_steps,
                "invert_agreement": self.invert_agreement, "lpips": self.lpips,
                "judges": [getattr(j, "source", None) or j.name for j in self.judges],
                "diversity": self.diversity, "prefer": self.prefer, "max_samples": self.max_samples,
                "limit": self.limit, **inputs, **{k: v for k, v in sorted(self.options.items())}}

    def count(self) -> int:
        return self.total

    def items(self):
        return (Item(key, i, i) for i, key in enumerate(self.keys))

    def subject(self, row: int) -> str:
        if self.code is None:
            return self.paths[row]
        return self.files[row] if self.files else f"{self.data}[{row}]"

    def _subjects(self, rows: List[int]):
        """(start for ``cross``, the images the classifier sees to choose the boundary, reference or None)."""
        if self.code is None:
            images = load_images_for(self.G, [self.paths[r] for r in rows])
            return images, images, None
        code = self.code.select(rows)
        files = [self.files[r] for r in rows] if self.files else []
        reference = None
        if files and all(os.path.isfile(f) for f in files):
            reference = load_images_for(self.G, files)
        with torch.no_grad():
            seen = reference if reference is not None else code.render(self.G).clamp(-1, 1)
        return code, seen, reference

    def run(self, items: List[Item], step_progress: Callable) -> BatchOutput:
        rows = [item.payload for item in items]
        start, seen, reference = self._subjects(rows)
        with torch.no_grad():
            probs = self.classifier(seen.to(self.G.device)).softmax(1).cpu()
        bounds = [self.pairs.boundary(p.tolist()) for p in probs]
        chosen = [j for j, b in enumerate(bounds) if b is not None]
        outputs = [dict(boundary=b, probs=probs[j], result=None, paths=[]) for j, b in enumerate(bounds)]
        if not chosen:
            return BatchOutput(outputs)
        sub = start[chosen] if torch.is_tensor(start) else start.select(chosen)
        k = self.paths_per_image
        result = cross(self.G, self.classifier, sub, [bounds[j].target for j in chosen],
                       [bounds[j].source for j in chosen], method=self.method, frames=self.frames,
                       space=self.space, seed=self.seed, item_seeds=[self.seed + items[j].index for j in chosen],
                       reference=None if reference is None else reference[chosen],
                       invert_steps=self.invert_steps, invert_agreement=self.invert_agreement, lpips=self.lpips,
                       judges=self.judges, paths_per_image=k, diversity=self.diversity, memory=self.memory,
                       progress=step_progress, **self.options)
        for pos, j in enumerate(chosen):
            outputs[j].update(result=result, paths=list(range(pos * k, (pos + 1) * k)))
        return BatchOutput(outputs, result.interrupted)

    def write(self, item: Item, output, folder: Path) -> dict:
        row, bound, probs = item.payload, output["boundary"], output["probs"]
        given = self.given[row] if self.given else None
        top = int(probs.argmax())
        record = {"index": item.index, "source": self.subject(row), "given_label": given,
                  "image_class": self.class_names[top], "image_prob": float(probs[top]),
                  "pair": None if bound is None else bound.pair, "paths": [], "samples": []}
        if bound is None:
            record["skipped"] = f"classified as {self.class_names[top]}, which is in no pair of --pairs"
            return record
        result = output["result"]
        rows: List[int] = []
        for k, i in enumerate(output["paths"]):
            samples = path_samples(result, i, self.eps, item.key, k)
            record["paths"].append({"path": k, "rank": None if result.ranks is None else result.ranks[i],
                                    "crossed": bool(result.crossed[i]), "monotone": bool(result.monotone[i]),
                                    "label": None if result.labels is None else result.labels[i],
                                    "samples": len(samples)})
            for sample in samples:
                t, code_row = sample["frame"], sample.pop("row")
                save_image(result.frames[i, t], folder / f"{sample['id']}.png")
                sample.update(key=item.key, source=record["source"], given_label=given, pair=bound.pair,
                              image=f"{item.key}/{sample['id']}.png", latent=f"{item.key}/latents.pt",
                              latent_row=len(rows))
                rows.append(code_row)
                record["samples"].append(sample)
        if rows:
            save_latents(str(folder / "latents.pt"), result.codes.select(rows), self.G,
                         extra={"ids": [s["id"] for s in record["samples"]]})
        return record

    def describe(self, record: dict) -> str:
        if record.get("skipped"):
            return f"skipped: {record['skipped']}"
        crossed = sum(p["crossed"] for p in record["paths"])
        return (f"{record['pair']}: {len(record['samples'])} samples from {crossed}/{len(record['paths'])} "
                "crossed paths")

    def produced(self, record: dict) -> int:
        return len(record.get("samples") or [])

    def finish(self, out: Path, records: dict) -> dict:
        candidates = [s for key in sorted(records, key=lambda k: records[k]["index"])
                      for s in records[key].get("samples") or []]
        chosen = select(candidates, self.prefer, self.max_samples)
        assemble(out, chosen, self.class_names)
        paths = [p for r in records.values() for p in r.get("paths") or []]
        summary = {"images": len(records), "skipped": sum(bool(r.get("skipped")) for r in records.values()),
                   "paths": len(paths), "crossed": sum(p["crossed"] for p in paths), "candidates": len(candidates),
                   "samples": len(chosen), "prefer": self.prefer, "max_samples": self.max_samples,
                   "manifest": "manifest.jsonl", "samples_dir": "samples"}
        if self.judges:
            summary["labels"] = label_counts([p["label"] for p in paths])
            summary["sample_labels"] = label_counts([s["judge_label"] for s in chosen])
        return summary
