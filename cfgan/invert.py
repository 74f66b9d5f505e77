"""Invert image files: the ``cfgan invert`` job (files in, latents + reconstructions + metrics out)."""
from __future__ import annotations

import json
import os
from typing import Callable, List, Optional

import torch

from cfgan.data import load_image, make_grid, save_image
from inversion import LatentCode, project, save_latents
from inversion.metrics import summarize


def load_images_for(G, paths: List[str]) -> torch.Tensor:
    """Read files as a batch the generator can reproduce (converted with a warning where needed)."""
    return torch.stack([load_image(p, size=G.resolution, channels=G.channels) for p in paths]).to(G.device)


def load_mask(path: str, G) -> torch.Tensor:
    """A mask PNG as [1, 1, H, W] in {0, 1}: white (>= 0.5) counts, black is ignored."""
    mask = load_image(path, size=G.resolution, channels=1)
    return ((mask + 1) / 2 >= 0.5).float().unsqueeze(0).to(G.device)


def invert_files(G, paths: List[str], out: str, space: str = "w+", steps: int = 500, noise: bool = False,
                 pti: bool = False, pti_steps: int = 350, pti_lr: float = 3e-4, mask_path: Optional[str] = None,
                 losses: Optional[dict] = None, classifier=None, init: str = "mean", lr: float = 0.1,
                 batch: int = 16, seed: int = 0, progress: Optional[Callable] = None) -> dict:
    """Project ``paths`` in batches; write latents.pt, reconstructions and metrics.json into ``out``.

    Each finished batch is written before the next starts, so an interrupted run keeps its results.
    """
    os.makedirs(out, exist_ok=True)
    mask = load_mask(mask_path, G) if mask_path else None
    features = classifier.features if classifier is not None else None
    if losses and "features" in losses and features is None:
        raise ValueError("--loss features=... needs --classifier")
    codes, recons, metrics, tuned = [], [], {}, None
    settings = None
    interrupted = False
    for start in range(0, len(paths), batch):
        chunk = paths[start:start + batch]
        target = load_images_for(G, chunk)
        result = project(G, target, space=space, steps=steps, noise=noise, mask=mask, losses=losses,
                         features=features, init=init, lr=lr, seed=seed + start, pti=pti, pti_steps=pti_steps,
                         pti_lr=pti_lr, progress=progress)
        codes.append(result.code)
        recons.append(result.images.cpu())
        for key, values in result.metrics.items():
            metrics.setdefault(key, []).extend(values)
        settings = result.settings
        tuned = result.generator or tuned
        for p, img in zip(chunk, result.images):
            stem = os.path.splitext(os.path.basename(p))[0]
            save_image(img.cpu(), os.path.join(out, f"{stem}_recon.png"))
        _write(out, paths[:start + len(chunk)], LatentCode.cat(codes), G, metrics, settings, recons, tuned)
        if result.interrupted:
            interrupted = True
            break
    return {"count": sum(len(c) for c in codes), "summary": summarize(metrics),
            "latents": os.path.join(out, "latents.pt"), "interrupted": interrupted}


def _write(out, paths, code, G, metrics, settings, recons, tuned):
    per_image = [dict(file=p, **{k: v[i] for k, v in metrics.items()}) for i, p in enumerate(paths)]
    extra = {"files": list(paths)}
    if tuned is not None:
        import generators

        tuned_path = os.path.join(out, "generator_pti.pt")
        generators.save(tuned, tuned_path, meta={"tuned_from": getattr(G, "source", None), "method": "pti"})
        extra["tuned_generator"] = tuned_path
    save_latents(os.path.join(out, "latents.pt"), code, G, metrics, settings, extra)
    save_image(make_grid(torch.cat(recons), nrow=8), os.path.join(out, "reconstructions.png"))
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump({"summary": summarize(metrics), "images": per_image, "settings": settings}, f, indent=2)
