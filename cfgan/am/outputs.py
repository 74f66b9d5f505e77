"""Pictures of activation-maximisation results: per-target grids and labelled panels (``cfgan am`` and the
demo write them)."""
from __future__ import annotations

import os
from typing import Dict, Optional

from cfgan.data import make_grid, save_image
from generators.files import atomic_write

from .objectives import ClassTarget
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
    """All targets of ``result`` in one labelled figure (see ``save_panel_rows``)."""
    rows = [(row_label(result, t), result.images_for(t)) for t in range(len(result.targets))]
    return save_panel_rows(rows, path, title, columns)


def save_panel_rows(rows, path: str, title: Optional[str] = None, columns: int = MAX_COLUMNS) -> str:
    """(label, images [R, C, H, W]) rows in one figure: up to ``columns`` images per row, the label (e.g. the
    mean reached probability) at its left."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [(label, images[:columns]) for label, images in rows]
    cols = max(len(images) for _, images in rows)
    fig = Figure(figsize=(1.6 + 0.75 * cols, 0.8 * len(rows) + (0.4 if title else 0.1)), dpi=100)
    FigureCanvasAgg(fig)
    for t, (label, images) in enumerate(rows):
        ax = fig.add_subplot(len(rows), 1, t + 1)
        grid = (make_grid(images, nrow=cols, padding=1).clamp(-1, 1) + 1) / 2
        array = grid.permute(1, 2, 0).numpy()
        ax.imshow(array[..., 0] if array.shape[-1] == 1 else array, cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        for spine in ax.spines.values():
            spine.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png")
    return path


def result_record(result: AMResult) -> dict:
    """The JSON-ready part of a result: settings, per-target summary, per-image values, timing."""
    return {"settings": result.settings, "summary": result.summary(), "images": result.per_image(),
            "seconds": round(result.seconds, 3), "interrupted": result.interrupted, "history": result.history}


def _describe(result: AMResult) -> str:
    probs = [v["prob_mean"] for v in result.summary().values() if v.get("prob_mean") is not None]
    text = f"{len(result)} images in {result.seconds:.1f} s"
    if probs:
        text += (f"; mean target probability {sum(probs) / len(probs):.4f} "
                 f"(lowest class mean {min(probs):.4f})")
    return text + (" [interrupted]" if result.interrupted else "")
