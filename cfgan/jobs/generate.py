"""``cfgan generate``: one image per seed, streamed, plus a grid of the first ones."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, List, Optional

import torch

from cfgan.data import load_image, make_grid, save_image

from .items import SeedList
from .runner import BatchOutput, Item, Job

GRID_MAX = 256


class GenerateJob(Job):
    command = "generate"
    layout = "file"

    def __init__(self, G, seeds: SeedList, truncation_psi: float = 1.0, class_index: Optional[int] = None,
                 noise_mode: str = "const", batch: int = 16, grid: bool = True):
        if not math.isfinite(truncation_psi):
            raise ValueError(f"--trunc must be a finite number, got {truncation_psi}")
        if G.c_dim and class_index is None:
            raise ValueError(f"this generator is conditional ({G.c_dim} classes): pass --class")
        if "w" not in G.spaces and truncation_psi != 1.0:
            raise ValueError("truncation needs a mapping network; this generator only has a Z space")
        self.G, self.seeds, self.psi, self.class_index = G, seeds, float(truncation_psi), class_index
        self.noise_mode, self.batch_size, self.grid = noise_mode, batch, grid

    def settings(self) -> dict:
        return {"generator": getattr(self.G, "source", None), "seeds": self.seeds.text, "trunc": self.psi,
                "class": self.class_index, "noise_mode": self.noise_mode}

    def count(self) -> int:
        return len(self.seeds)

    def items(self):
        return self.seeds.items()

    @torch.no_grad()
    def run(self, items: List[Item], step_progress: Callable) -> BatchOutput:
        G = self.G
        z = torch.cat([G.sample_z(1, item.payload) for item in items])
        c = G.one_hot([self.class_index] * len(items)) if G.c_dim else None
        images = G(z, c, truncation_psi=self.psi, noise_mode=self.noise_mode) if "w" in G.spaces else G(z)
        return BatchOutput(list(images.clamp(-1, 1).cpu()))

    def write(self, item: Item, output, folder: Path) -> dict:
        save_image(output, folder / f"{item.key}.png")
        return {"seed": item.payload, "file": f"{item.key}.png"}

    def finish(self, out: Path, records: dict) -> dict:
        if not self.grid or not records:
            return {}
        chosen = sorted(records.values(), key=lambda r: r["seed"])[:GRID_MAX]
        images = torch.stack([load_image(out / r["file"]) for r in chosen])
        save_image(make_grid(images, nrow=max(1, round(len(images) ** 0.5))), out / "grid.png")
        return {"grid": "grid.png", "grid_images": len(chosen)}
