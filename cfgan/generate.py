"""Sample images for seeds: the ``cfgan generate`` job."""
from __future__ import annotations

import os
from typing import Callable, Optional, Sequence

import torch

from cfgan.data import make_grid, save_image


def generate_images(G, seeds: Sequence[int], truncation_psi: float = 1.0, class_index: Optional[int] = None,
                    noise_mode: str = "const", grid_path: Optional[str] = "grid.png",
                    outdir: Optional[str] = None, batch: int = 16,
                    progress: Optional[Callable[[int, int, dict], None]] = None) -> dict:
    """Generate one image per seed (seed -> z exactly as ``G.sample``), write a grid and/or PNGs."""
    if G.c_dim and class_index is None:
        raise ValueError(f"this generator is conditional ({G.c_dim} classes): pass a class index")
    images = []
    written = []
    with torch.no_grad():
        for start in range(0, len(seeds), batch):
            chunk = seeds[start:start + batch]
            z = torch.cat([G.sample_z(1, s) for s in chunk])
            c = G.one_hot([class_index] * len(chunk)) if G.c_dim else None
            if "w" in G.spaces:
                img = G(z, c, truncation_psi=truncation_psi, noise_mode=noise_mode)
            else:
                if truncation_psi != 1.0:
                    raise ValueError("truncation needs a mapping network; this generator only has Z space")
                img = G(z)
            img = img.clamp(-1, 1).cpu()
            images.append(img)
            if outdir:
                for s, im in zip(chunk, img):
                    written.append(str(save_image(im, os.path.join(outdir, f"seed{s:05d}.png"))))
            if progress:
                progress(min(start + batch, len(seeds)), len(seeds), {})
    images = torch.cat(images)
    out = {"images": written, "grid": None}
    if grid_path:
        nrow = max(1, int(round(len(seeds) ** 0.5)))
        out["grid"] = str(save_image(make_grid(images, nrow=nrow), grid_path))
    return out
