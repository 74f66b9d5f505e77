"""``cfgan am``: activation maximisation, one work item per target (class or unit).

Per target: a grid of its restarts, their codes and reached scores (and the pixel-space baseline's grid
with ``--pixel``); at the end one panel of all targets, one latent file and ``am.json``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import torch

from cfgan.am import AMSettings, maximize, maximize_pixels
from cfgan.am.outputs import MAX_COLUMNS, save_panel_rows
from cfgan.data import make_grid, save_image
from generators.files import torch_save, write_json
from inversion import LatentCode, load_latents, save_latents
from inversion.images import check_image_range

from .runner import BatchOutput, Item, Job


class AMJob(Job):
    command = "am"

    def __init__(self, G, classifier, targets: Sequence, settings: AMSettings, pixel: bool = False,
                 pixel_options: Optional[dict] = None, batch: int = 10):
        if not targets:
            raise ValueError("nothing to maximise: no targets")
        self.G, self.classifier, self.targets, self.cfg = G, classifier, list(targets), settings
        self.pixel, self.pixel_options, self.batch_size = pixel, dict(pixel_options or {}), batch

    def settings(self) -> dict:
        return {"generator": getattr(self.G, "source", None), "classifier": self.classifier.name,
                "targets": [t.label for t in self.targets], "pixel": self.pixel,
                **dataclasses.asdict(self.cfg), **self.pixel_options}

    def count(self) -> int:
        return len(self.targets)

    def items(self):
        return (Item(t.slug, i, t) for i, t in enumerate(self.targets))

    def run(self, items: List[Item], step_progress: Callable) -> BatchOutput:
        targets = [item.payload for item in items]
        gen = maximize(self.G, self.classifier, targets, self.cfg, progress=step_progress)
        pix = None
        if self.pixel and not gen.interrupted:
            shape = (self.G.channels, self.G.resolution, self.G.resolution)
            pix = maximize_pixels(self.classifier, targets, shape, restarts=self.cfg.restarts, steps=self.cfg.steps,
                                  diversity=self.cfg.diversity, seed=self.cfg.seed, progress=step_progress,
                                  class_score=self.cfg.class_score, stop_at=self.cfg.stop_at, **self.pixel_options)
        summary, per_image = gen.summary(), gen.per_image()
        outputs = []
        for t, target in enumerate(targets):
            rows = gen.rows(t)
            outputs.append(dict(images=gen.images[rows], code=gen.code.select(rows.tolist()),
                                summary=summary[target.label], per_image=[per_image[int(r)] for r in rows],
                                pixel=None if pix is None else pix.images[pix.rows(t)],
                                pixel_summary=None if pix is None else pix.summary()[target.label]))
        return BatchOutput(outputs, gen.interrupted or (pix is not None and pix.interrupted))

    def write(self, item: Item, output, folder: Path) -> dict:
        images = output["images"]
        save_image(make_grid(images, nrow=min(MAX_COLUMNS, len(images))), folder / "grid.png")
        torch_save(images, folder / "images.pt")
        save_latents(str(folder / "latents.pt"), output["code"], self.G, settings=self.settings(),
                     extra={"target": item.payload.label})
        record = {"target": item.payload.label, "grid": f"{item.key}/grid.png", "latents": f"{item.key}/latents.pt",
                  "images": f"{item.key}/images.pt", **output["summary"], "per_image": output["per_image"]}
        if output["pixel"] is not None:
            save_image(make_grid(output["pixel"], nrow=min(MAX_COLUMNS, len(output["pixel"]))),
                       folder / "pixel_grid.png")
            torch_save(output["pixel"], folder / "pixel_images.pt")
            record.update(pixel_grid=f"{item.key}/pixel_grid.png", pixel_images=f"{item.key}/pixel_images.pt",
                          pixel=output["pixel_summary"])
        return record

    def describe(self, record: dict) -> str:
        if record.get("prob_mean") is not None:
            return f"mean probability {record['prob_mean']:.4f} (min {record['prob_min']:.4f})"
        return f"mean activation {record['score_mean']:.4g}"

    def finish(self, out: Path, records: dict) -> dict:
        ordered = [records[t.slug] for t in self.targets if t.slug in records]
        if not ordered:
            return {}
        files = {}
        for kind, images_key in (("generator", "images"), ("pixel", "pixel_images")):
            rows = [(_row_label(r, kind), _load_images(out / r[images_key])) for r in ordered if r.get(images_key)]
            if rows:
                title = (f"generator AM ({self.cfg.space}, {self.cfg.restarts} restarts)" if kind == "generator"
                         else f"pixel-space AM ({self.cfg.restarts} restarts)")
                files[f"{kind}_panel"] = Path(save_panel_rows(rows, str(out / f"{kind}_panel.png"), title)).name
        codes = [load_latents(str(out / r["latents"]))[0] for r in ordered]
        prob = [p.get("prob") for r in ordered for p in r["per_image"]]
        save_latents(str(out / "latents.pt"), LatentCode.cat(codes), self.G,
                     metrics={"prob": prob, "score": [p["score"] for r in ordered for p in r["per_image"]]},
                     settings=self.settings(),
                     extra={"targets": [r["target"] for r in ordered],
                            "assignment": [i for i, r in enumerate(ordered) for _ in r["per_image"]]})
        report = {"format": "cfgan.am", "version": 2, "settings": self.settings(),
                  "targets": {r["target"]: {k: v for k, v in r.items() if k != "per_image"} for r in ordered},
                  "images": [p for r in ordered for p in r["per_image"]], "outputs": dict(files, latents="latents.pt")}
        write_json(out / "am.json", report)
        return {"outputs": report["outputs"]}


def _row_label(record: dict, kind: str) -> str:
    entry = record if kind == "generator" else record.get("pixel") or {}
    if entry.get("prob_mean") is not None:
        return f"{record['target']}\np={entry['prob_mean']:.3f}"
    return f"{record['target']}\nact={entry.get('score_mean', float('nan')):.3g}"


def _load_images(path: Path) -> torch.Tensor:
    images = torch.load(path, map_location="cpu", weights_only=True)
    return check_image_range(images, str(path))
