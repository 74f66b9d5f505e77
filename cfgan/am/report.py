"""Files of an activation-maximisation run: per-target grids, labelled panels, latents and a JSON report.

Used by ``cfgan am`` and the demo. Generator-AM outputs are written as soon as that run ends, so an
interrupted pixel baseline (or Ctrl-C during generator AM, which ``optimize`` turns into an early stop)
still leaves the images, codes and report reached so far.
"""
from __future__ import annotations

import json
import os
import time
from typing import Callable, Dict, Optional, Sequence

import torch

from cfgan.data import make_grid, save_image
from inversion import save_latents

from .generator_am import maximize
from .objectives import ClassTarget
from .pixel_am import maximize_pixels
from .result import AMResult

MAX_COLUMNS = 8


def save_grids(result: AMResult, folder: str) -> Dict[str, str]:
    """One grid PNG per target (its restarts), named after the target; returns label -> path."""
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for t, target in enumerate(result.targets):
        images = result.images_for(t)
        path = os.path.join(folder, f"{target.slug}.png")
        save_image(make_grid(images, nrow=min(MAX_COLUMNS, len(images))), path)
        paths[target.label] = path
    return paths


def row_label(result: AMResult, t: int) -> str:
    target, rows = result.targets[t], result.rows(t)
    if isinstance(target, ClassTarget):
        return f"{target.label}\np={float(result.target_prob[rows].mean()):.3f}"
    return f"{target.label}\nact={float(result.score[rows].mean()):.3g}"


def save_panel(result: AMResult, path: str, title: Optional[str] = None, columns: int = MAX_COLUMNS) -> str:
    """All targets in one labelled figure: a row per target (up to ``columns`` restarts), the mean reached
    probability (classes) or activation (units) next to each row."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [result.images_for(t)[:columns] for t in range(len(result.targets))]
    cols = max(len(r) for r in rows)
    fig = Figure(figsize=(1.6 + 0.75 * cols, 0.8 * len(rows) + (0.4 if title else 0.1)), dpi=100)
    FigureCanvasAgg(fig)
    for t, images in enumerate(rows):
        ax = fig.add_subplot(len(rows), 1, t + 1)
        grid = (make_grid(images, nrow=cols, padding=1).clamp(-1, 1) + 1) / 2
        array = grid.permute(1, 2, 0).numpy()
        ax.imshow(array[..., 0] if array.shape[-1] == 1 else array, cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(row_label(result, t), rotation=0, ha="right", va="center", fontsize=8)
        for spine in ax.spines.values():
            spine.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    return path


def result_record(result: AMResult) -> dict:
    """The JSON-ready part of a result: settings, per-target summary, per-image values, timing."""
    return {"settings": result.settings, "summary": result.summary(), "images": result.per_image(),
            "seconds": round(result.seconds, 3), "interrupted": result.interrupted, "history": result.history}


def _write_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, default=str)
    os.replace(tmp, path)


def run_am(G, classifier, targets: Sequence, out: str, space: str = "w", restarts: int = 16, steps: int = 100,
           diversity: float = 0.0, truncation_psi: float = 1.0, pixel: bool = False, seed: int = 0,
           progress: Optional[Callable] = None, log: Optional[Callable[[str], None]] = None,
           pixel_options: Optional[dict] = None, **options) -> dict:
    """Generator AM (and optionally the pixel baseline) for ``targets``; writes into ``out``:

    ``generator/<target>.png`` (restarts of each target), ``generator_panel.png`` (all targets),
    ``latents.pt`` (the codes, ``inversion.save_latents`` format), ``am.json`` (reached probabilities per
    image, per-target means, settings, seed, timings) and, with ``pixel``, ``pixel/<target>.png``,
    ``pixel_panel.png`` and ``pixel_images.pt``. Returns the JSON report.
    """
    log = log or (lambda message: None)
    os.makedirs(out, exist_ok=True)
    started = time.perf_counter()
    report = {"format": "cfgan.am", "version": 1, "seed": seed,
              "generator_source": getattr(G, "source", None),
              "classifier": getattr(classifier, "name", None), "outputs": {}}
    gen = maximize(G, classifier, targets, space=space, restarts=restarts, steps=steps, diversity=diversity,
                   truncation_psi=truncation_psi, seed=seed, progress=progress, **options)
    report["generator"] = result_record(gen)
    report["outputs"]["generator_grids"] = save_grids(gen, os.path.join(out, "generator"))
    report["outputs"]["generator_panel"] = save_panel(
        gen, os.path.join(out, "generator_panel.png"), f"generator AM ({space}, {restarts} restarts)")
    report["outputs"]["latents"] = save_latents(
        os.path.join(out, "latents.pt"), gen.code, G,
        metrics={"prob": [None if p != p else float(p) for p in gen.target_prob.tolist()],
                 "score": gen.score.tolist()},
        settings=gen.settings,
        extra={"targets": [t.label for t in gen.targets], "assignment": gen.assignment.tolist()})
    report["interrupted"] = gen.interrupted
    report["seconds"] = round(time.perf_counter() - started, 3)
    _write_json(os.path.join(out, "am.json"), report)
    log(f"generator AM: {_describe(gen)}")
    if pixel and not gen.interrupted:
        shape = (G.channels, G.resolution, G.resolution)
        pix = maximize_pixels(classifier, targets, shape, restarts=restarts, steps=steps, diversity=diversity,
                              seed=seed, progress=progress, class_score=options.get("class_score", "logprob"),
                              stop_at=options.get("stop_at"), **(pixel_options or {}))
        report["pixel"] = result_record(pix)
        report["outputs"]["pixel_grids"] = save_grids(pix, os.path.join(out, "pixel"))
        report["outputs"]["pixel_panel"] = save_panel(pix, os.path.join(out, "pixel_panel.png"),
                                                      f"pixel-space AM ({restarts} restarts)")
        torch.save(pix.images, os.path.join(out, "pixel_images.pt"))
        report["outputs"]["pixel_images"] = os.path.join(out, "pixel_images.pt")
        report["interrupted"] = pix.interrupted
        report["seconds"] = round(time.perf_counter() - started, 3)
        _write_json(os.path.join(out, "am.json"), report)
        log(f"pixel AM:     {_describe(pix)}")
    return report


def _describe(result: AMResult) -> str:
    probs = [v["prob_mean"] for v in result.summary().values() if v.get("prob_mean") is not None]
    text = f"{len(result)} images in {result.seconds:.1f} s"
    if probs:
        text += (f"; mean target probability {sum(probs) / len(probs):.4f} "
                 f"(lowest class mean {min(probs):.4f})")
    return text + (" [interrupted]" if result.interrupted else "")


def demo_panel(G, classifier, out: str, quick: bool = False, restarts: int = 4, seed: int = 0) -> dict:
    """Generator-AM images for every class of ``classifier`` as one labelled panel, ``out/am_panel.png``.

    Starts from each class's best of 256 random samples, so a few W-space steps suffice (about 20 s for
    10 classes x 4 restarts of the bundled Fashion-MNIST models on 2 CPU cores).
    Returns {"panel": path, "prob_mean": {class: mean reached probability}, "seconds": ...}.
    """
    from .objectives import all_classes

    steps = 8 if quick else 25
    result = maximize(G, classifier, all_classes(classifier), space="w", restarts=restarts, steps=steps,
                      lr=0.2, init="best-of-k", k=256, seed=seed)
    path = save_panel(result, os.path.join(out, "am_panel.png"),
                      "what the classifier thinks each class looks like (generator AM)")
    summary = result.summary()
    return {"panel": path, "prob_mean": {k: v["prob_mean"] for k, v in summary.items()},
            "seconds": round(result.seconds, 2), "steps": steps, "restarts": restarts,
            "interrupted": result.interrupted}
