"""Files of an edit: a grid (images x strengths), a labelled grid, a video per image, the JSON report.

Videos reuse ``cfgan.paths.outputs`` (enlarged frames with a probability bar under each, mp4 and gif);
every file is written under a temporary name and renamed into place.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import torch

from cfgan.data import make_grid, save_image
from cfgan.paths.outputs import enlarge, video_frames, write_gif, write_video

from .crossing import EditReport
from .files import atomic_path

LABELLED_ROWS = 16


def write_grid(path: str, images: torch.Tensor, min_size: int = 64) -> str:
    """Images [N, S, C, H, W] as one PNG: a row per image, a column per strength."""
    n, s = images.shape[:2]
    big = enlarge(images.reshape(n * s, *images.shape[2:]), min_size)
    with atomic_path(path) as tmp:
        save_image(make_grid(big, nrow=s, padding=2), tmp)
    return path


def write_labelled_grid(path: str, report: EditReport, strengths: Sequence[float], names: Sequence[str],
                        class_names: Optional[Sequence[str]], title: str, rows: int = LABELLED_ROWS) -> str:
    """The first ``rows`` images with the strength over each column and the predicted class (and p) under
    each frame; frames that reached the target (or left the start class) are labelled in green."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n, s = min(rows, report.images.shape[0]), report.images.shape[1]
    reached = report.reached()
    tracked = report.tracked_probs()
    fig = Figure(figsize=(1.0 + 0.95 * s, 0.45 + 1.15 * n), dpi=100)
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize=8)
    for i in range(n):
        for j in range(s):
            ax = fig.add_subplot(n, s, i * s + j + 1)
            img = ((report.images[i, j].clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            k = int(report.predicted[i, j])
            label = class_names[k] if class_names else str(k)
            ax.set_xlabel(f"{label[:10]} {float(tracked[i, j]):.2f}", fontsize=6,
                          color="green" if bool(reached[i, j]) else "black")
            if i == 0:
                ax.set_title(f"{strengths[j]:+.2g}", fontsize=7)
            if j == 0:
                ax.set_ylabel(names[i][:12], fontsize=6)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    return path


def write_videos(folder: str, report: EditReport, index: int, name: str, fps: float) -> Dict[str, str]:
    """``name.mp4`` and ``name.gif`` for image ``index``: its frames with p(target) (p(start class) when
    there is no target) as a bar under each, green once the frame is classified as the target."""
    frames = video_frames(report.images[index], report.tracked_probs()[index].tolist(),
                          report.reached()[index].tolist() if report.target is not None
                          else (~report.reached()[index]).tolist())
    files = {}
    for kind, writer in (("mp4", write_video), ("gif", write_gif)):
        path = os.path.join(folder, f"{name}.{kind}")
        with atomic_path(path) as tmp:
            writer(tmp, frames, fps)
        files[kind] = path
    return files


def image_rows(report: EditReport, strengths: Sequence[float], names: Sequence[str], sigma: torch.Tensor,
               kept: Optional[torch.Tensor], class_names: Optional[List[str]], offset: int = 0) -> List[dict]:
    """One JSON row per image: start class, frames (strength, class, probabilities), crossing strengths."""
    def cname(k):
        return None if k is None else (class_names[k] if class_names else str(k))

    rows = []
    tracked = report.tracked_probs()
    for i in range(report.images.shape[0]):
        start = int(report.start_predicted[i])
        frames = [{"strength": float(s), "class": cname(int(report.predicted[i, j])),
                   "p_tracked": float(tracked[i, j]), "probs": [round(float(p), 6) for p in report.probs[i, j]]}
                  for j, s in enumerate(strengths)]
        rows.append({
            "name": names[i], "index": offset + i, "start_class": cname(start),
            "start_probs": [round(float(p), 6) for p in report.start_probs[i]],
            "already_target": bool(report.already_target[i]),
            "crossing_strength": report.crossing[i], "crossed_to": cname(report.crossed_to[i]),
            "crossing_strength_negative": report.crossing_negative[i],
            "crossed_to_negative": cname(report.crossed_to_negative[i]),
            "sigma": float(sigma[i]), "kept_fraction": None if kept is None else float(kept[i]),
            "frames": frames,
        })
    return rows
