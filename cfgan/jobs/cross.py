"""``cfgan cross``: subjects in (image files, seeds or a latent file), one decision-crossing path each out.

Each path's folder holds its frames, videos, filmstrip, probability plot, change map, latents and report
(``cfgan.paths.write_path``); the summary counts crossed and monotone paths, and, with judges, how many
paths the judges call genuine, blind-spot or mixed. With several paths per subject (``paths_per_image``),
a subject's folder holds one folder per path, named by rank (``rank0`` is the closest at its crossing),
``paths.png`` with their frames side by side (one row each, in rank order) and ``report.json`` listing them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from cfgan.data import load_images_for
from cfgan.paths import cross
from cfgan.paths.judges import label_counts
from cfgan.paths.outputs import side_by_side, write_path
from generators.files import file_sha256, write_json
from inversion import load_latents

from .invert import inputs_digest
from .items import SeedList, check_files, file_items, latent_keys
from .runner import BatchOutput, Item, Job, JobError

#: the per-path report fields the run summary lists
SUMMARY_FIELDS = ("crossed", "monotone", "repaired", "crossing_index", "target_name", "source_name",
                  "identity_at_crossing", "lambda", "generator_evals", "classifier_queries", "label", "notes")


class CrossJob(Job):
    command = "cross"
    fixed_blocks = True

    def __init__(self, G, classifier, target, source=None, images: Sequence[str] = (),
                 seeds: Optional[SeedList] = None, latents: Optional[str] = None, method: str = "regularized",
                 frames: int = 16, space: str = "w+", batch: int = 16, seed: int = 0, invert_steps: int = 300,
                 invert_agreement: float = 0.1, lpips: bool = True, fps: float = 6.0, judges: Sequence = (),
                 require_judges: bool = False, paths_per_image: int = 1, diversity: float = 5.0, memory=None,
                 **options):
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
        if require_judges and not judges:
            raise JobError("--require-judges needs at least one --judge")
        if paths_per_image < 1:
            raise JobError(f"--paths-per-image must be >= 1, got {paths_per_image}")
        if paths_per_image > 1 and method == "regularized" and (options.get("lam") is not None
                                                                 or options.get("search", "adaptive") != "adaptive"):
            raise JobError("--paths-per-image needs the adaptive lambda search: drop --lambda")
        self.judges, self.require_judges = list(judges), require_judges
        self.paths_per_image, self.diversity, self.memory = paths_per_image, diversity, memory

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
                "judges": [getattr(j, "source", None) or j.name for j in self.judges],
                "require_judges": self.require_judges, "paths_per_image": self.paths_per_image,
                **({"diversity": self.diversity} if self.paths_per_image > 1 else {}),
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
        # item's index makes every path's stream seed + index; batches are fixed blocks of consecutive items
        # (``fixed_blocks``), so neither a resume nor torchrun's sharding changes a batch, hence a result
        k = self.paths_per_image
        result = cross(self.G, self.classifier, start, self.target_index, self.source_index, method=self.method,
                       frames=self.frames, space=self.space, seed=self.seed + items[0].index, reference=reference,
                       invert_steps=self.invert_steps, invert_agreement=self.invert_agreement, lpips=self.lpips,
                       judges=self.judges, require_judges=self.require_judges, paths_per_image=k,
                       diversity=self.diversity, memory=self.memory, progress=step_progress, **self.options)
        return BatchOutput([(result, list(range(i * k, (i + 1) * k))) for i in range(len(items))],
                           result.interrupted)

    def subject(self, item: Item) -> str:
        if self.images:
            return item.payload
        if self.seeds is not None:
            return f"seed {item.payload}"
        return f"{self.latents}[{item.payload}]"

    def write(self, item: Item, output, folder: Path) -> dict:
        result, paths = output
        info = {"name": item.key, "subject": self.subject(item)}
        if len(paths) == 1:
            i = paths[0]
            write_path(result, i, str(folder), self.G, self.fps, info)
            report = result.path_report(i)
            return {"folder": item.key, **{k: report[k] for k in SUMMARY_FIELDS},
                    "first_prob": report["probs"][0], "last_prob": report["probs"][-1]}
        ranked = sorted(paths, key=lambda i: result.ranks[i])
        listed = []
        for i in ranked:
            name = f"rank{result.ranks[i]}"
            write_path(result, i, str(folder / name), self.G, self.fps, dict(info, rank=result.ranks[i]))
            report = result.path_report(i)
            listed.append({"folder": name, "rank": result.ranks[i], **{k: report[k] for k in SUMMARY_FIELDS},
                           "first_prob": report["probs"][0], "last_prob": report["probs"][-1]})
        side_by_side(str(folder / "paths.png"), result, ranked)
        write_json(str(folder / "report.json"), dict(info, paths=listed, paths_per_image=len(paths),
                                                     end_frame_distance=self._spread(result, ranked)))
        return {"folder": item.key, **{k: v for k, v in listed[0].items() if k not in ("folder", "rank")},
                "paths": listed, "end_frame_distance": self._spread(result, ranked)}

    @staticmethod
    def _spread(result, paths: List[int]) -> Optional[float]:
        """Mean pairwise RMS pixel distance of the paths' end frames (how different the explanations are)."""
        ends = result.frames[paths, -1].float().flatten(1)
        if len(paths) < 2:
            return None
        dist = ((ends.unsqueeze(1) - ends.unsqueeze(0)) ** 2).mean(-1).sqrt()
        return float(dist.sum() / (len(paths) * (len(paths) - 1)))

    def describe(self, record: dict) -> str:
        text = (f"{'crossed' if record['crossed'] else 'did not cross'}, "
                f"{'monotone' if record['monotone'] else 'NOT monotone'}, "
                f"p {record['first_prob']:.2f} -> {record['last_prob']:.2f}")
        if record.get("label"):
            text += f", judges: {record['label']}"
        if record.get("paths"):
            text += f" (closest of {len(record['paths'])} paths)"
        return text

    def finish(self, out: Path, records: dict) -> dict:
        paths = [p for r in records.values() for p in (r.get("paths") or [r])]
        n = len(paths)
        crossed = sum(r["crossed"] for r in paths)
        summary = {"method": self.method, "paths": n, "crossed": crossed,
                   "monotone": sum(r["monotone"] for r in paths), "crossing_rate": crossed / n if n else None}
        if self.judges:
            summary["judges"] = [j.name for j in self.judges]
            summary["labels"] = label_counts([r.get("label") for r in paths])
        if self.paths_per_image > 1:
            summary["subjects"] = len(records)
            summary["paths_per_image"] = self.paths_per_image
        return summary

