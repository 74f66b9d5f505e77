"""``cfgan invert``: image files in; per image a code, its reconstruction and metrics; one latent file for all."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Callable, List, Optional

import torch

import generators
from cfgan.data import load_image, load_images_for, load_mask, make_grid, save_image
from generators.files import write_json
from inversion import LatentCode, ProjectionSettings, load_latents, project, save_latents
from inversion.metrics import summarize

from .items import check_files, file_items
from .runner import BatchOutput, Item, Job

GRID_MAX = 64


def inputs_digest(paths) -> str:
    """A short fingerprint of an input list: resuming needs the very same inputs in the same order."""
    return hashlib.sha256("\n".join(str(p) for p in paths).encode()).hexdigest()[:16]


class InvertJob(Job):
    command = "invert"

    def __init__(self, G, paths: List[str], settings: ProjectionSettings, mask_path: Optional[str] = None,
                 classifier=None, batch: int = 16):
        self.G, self.paths = G, check_files(paths)
        self.cfg = settings.check()
        if "features" in self.cfg.losses and classifier is None:
            raise ValueError("--loss features=... needs --classifier")
        self.mask_path, self.classifier, self.batch_size = mask_path, classifier, batch
        self.mask = load_mask(mask_path, G.resolution).to(G.device) if mask_path else None

    def settings(self) -> dict:
        return {"generator": getattr(self.G, "source", None), "inputs": len(self.paths),
                "inputs_sha": inputs_digest(self.paths), "mask": self.mask_path,
                "classifier": getattr(self.classifier, "name", None), **dataclasses.asdict(self.cfg)}

    def count(self) -> int:
        return len(self.paths)

    def items(self):
        return file_items(self.paths)

    def run(self, items: List[Item], step_progress: Callable) -> BatchOutput:
        target = load_images_for(self.G, [item.payload for item in items])
        features = self.classifier.features if self.classifier is not None else None
        result = project(self.G, target, self.cfg, mask=self.mask, features=features,
                         item_seeds=[self.cfg.seed + item.index for item in items], progress=step_progress)
        tuned = result.generator
        outputs = [dict(code=result.code.select([i]), image=result.images[i].cpu(),
                        metrics={k: v[i] for k, v in result.metrics.items()}, tuned=tuned, settings=result.settings)
                   for i in range(len(items))]
        return BatchOutput(outputs, result.interrupted)

    def write(self, item: Item, output, folder: Path) -> dict:
        save_image(output["image"], folder / "recon.png")
        extra = {"files": [item.payload]}
        if output["tuned"] is not None:  # a tuned copy per batch; each item keeps the one its code needs
            generators.save(output["tuned"], folder / "generator_pti.pt",
                            meta={"tuned_from": getattr(self.G, "source", None), "method": "pti"})
            extra["tuned_generator"] = "generator_pti.pt"
        save_latents(str(folder / "latents.pt"), output["code"], self.G, {k: [v] for k, v in output["metrics"].items()},
                     output["settings"], extra)
        return {"file": item.payload, "recon": f"{item.key}/recon.png", "latents": f"{item.key}/latents.pt",
                **output["metrics"]}

    def describe(self, record: dict) -> str:
        return f"PSNR {record['psnr']:.2f} dB" if record.get("psnr") is not None else ""

    def finish(self, out: Path, records: dict) -> dict:
        """``latents.pt`` with every finished code in input order (what cross/edit read), a grid, metrics."""
        if not records:
            return {}
        ordered = [records[item.key] for item in file_items(self.paths) if item.key in records]
        codes = [load_latents(str(out / r["latents"]))[0] for r in ordered]
        metrics = {k: [r.get(k) for r in ordered] for k in ("mse", "psnr", "lpips") if k in ordered[0]}
        save_latents(str(out / "latents.pt"), LatentCode.cat(codes), self.G, metrics, self.settings(),
                     {"files": [r["file"] for r in ordered],
                      "tuned_generators": [f"{Path(r['latents']).parent}/generator_pti.pt" for r in ordered
                                           if (out / Path(r["latents"]).parent / "generator_pti.pt").is_file()]})
        recons = torch.stack([load_image(out / r["recon"]) for r in ordered[:GRID_MAX]])
        save_image(make_grid(recons, nrow=8), out / "reconstructions.png")
        summary = summarize(metrics)
        write_json(out / "metrics.json", {"summary": summary, "images": ordered, "settings": self.settings()})
        return {"latents": "latents.pt", "reconstructions": "reconstructions.png", "metrics": summary}
