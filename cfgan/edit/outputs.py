"""Files of an edit: an image's frames, filmstrip and videos, a grid (images x strengths), a labelled grid,
and the JSON row of an image.

Videos reuse ``cfgan.paths.outputs`` (enlarged frames with a probability bar under each, mp4 and gif).
Every file is written atomically (``generators.files``): complete under its final name, or absent.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import torch

from cfgan.data import make_grid, save_image
from cfgan.paths.outputs import enlarge, save_figure, video_frames, write_gif, write_video

from .crossing import EditReport

LABELLED_ROWS = 16


def write_grid(path: str, images: torch.Tensor, min_size: int = 64) -> str:
    """Images [N, S, C, H, W] as one PNG: a row per image, a column per strength."""
    n, s = images.shape[:2]
    big = enlarge(images.reshape(n * s, *images.shape[2:]), min_size)
    save_image(make_grid(big, nrow=s, padding=2), path)
    return path


def write_frames(folder: str, frames: torch.Tensor) -> Dict[str, str]:
    """One image's frames [S, C, H, W]: ``frames/frame_000.png``... and ``filmstrip.png`` (enlarged, one row)."""
    for j, frame in enumerate(frames):
        save_image(frame, os.path.join(folder, "frames", f"frame_{j:03d}.png"))
    strip = os.path.join(folder, "filmstrip.png")
    save_image(make_grid(enlarge(frames, 96), nrow=frames.shape[0], padding=4), strip)
    return {"frames": os.path.join(folder, "frames"), "filmstrip": strip}


def frame_rows(report: EditReport, strengths: Sequence[float], class_names: Optional[Sequence[str]]
               ) -> List[List[dict]]:
    """Per image, per strength: the class, the tracked probability, whether the frame reached the target (or
    left the start class when there is no target) and all probabilities."""
    tracked, reached = report.tracked_probs(), report.reached()
    return [[{"strength": float(s), "class": _name(class_names, int(report.predicted[i, j])),
              "p_tracked": float(tracked[i, j]), "reached": bool(reached[i, j]),
              "probs": [round(float(p), 6) for p in report.probs[i, j]]}
             for j, s in enumerate(strengths)] for i in range(report.images.shape[0])]


def write_labelled_grid(path: str, report: EditReport, strengths: Sequence[float], names: Sequence[str],
                        class_names: Optional[Sequence[str]], title: str, rows: int = LABELLED_ROWS) -> str:
    """The first ``rows`` images of ``report`` as a labelled grid (``draw_labelled_grid``)."""
    return draw_labelled_grid(path, report.images[:rows], frame_rows(report, strengths, class_names)[:rows],
                              names, title)


def draw_labelled_grid(path: str, images: torch.Tensor, frames: Sequence[Sequence[dict]], names: Sequence[str],
                       title: str) -> str:
    """Images [N, S, C, H, W] with the strength over each column and the predicted class and tracked
    probability under each frame (``frame_rows``); frames that reached the target are labelled in green."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n, s = images.shape[:2]
    fig = Figure(figsize=(1.0 + 0.95 * s, 0.45 + 1.15 * n), dpi=100)
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize=8)
    for i in range(n):
        for j in range(s):
            ax = fig.add_subplot(n, s, i * s + j + 1)
            img = ((images[i, j].clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            frame = frames[i][j]
            ax.set_xlabel(f"{frame['class'][:10]} {frame['p_tracked']:.2f}", fontsize=6,
                          color="green" if frame["reached"] else "black")
            if i == 0:
                ax.set_title(f"{frame['strength']:+.2g}", fontsize=7)
            if j == 0:
                ax.set_ylabel(names[i][:12], fontsize=6)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save_figure(fig, path)


def write_videos(folder: str, report: EditReport, index: int, name: str, fps: float) -> Dict[str, str]:
    """``name.mp4`` and ``name.gif`` for image ``index``: its frames with p(target) (p(start class) when
    there is no target) as a bar under each, green once the frame is classified as the target."""
    frames = video_frames(report.images[index], report.tracked_probs()[index].tolist(),
                          report.reached()[index].tolist() if report.target is not None
                          else (~report.reached()[index]).tolist())
    return {"mp4": write_video(os.path.join(folder, f"{name}.mp4"), frames, fps),
            "gif": write_gif(os.path.join(folder, f"{name}.gif"), frames, fps)}


def image_rows(report: EditReport, strengths: Sequence[float], names: Sequence[str], sigma: torch.Tensor,
               kept: Optional[torch.Tensor], class_names: Optional[List[str]], offset: int = 0) -> List[dict]:
    """One JSON row per image: start class, frames (strength, class, probabilities), crossing strengths."""
    rows = []
    for i, frames in enumerate(frame_rows(report, strengths, class_names)):
        rows.append({
            "name": names[i], "index": offset + i, "start_class": _name(class_names, int(report.start_predicted[i])),
            "start_probs": [round(float(p), 6) for p in report.start_probs[i]],
            "already_target": bool(report.already_target[i]),
            "crossing_strength": report.crossing[i], "crossed_to": _name(class_names, report.crossed_to[i]),
            "crossing_strength_negative": report.crossing_negative[i],
            "crossed_to_negative": _name(class_names, report.crossed_to_negative[i]),
            "sigma": float(sigma[i]), "kept_fraction": None if kept is None else float(kept[i]),
            "frames": frames,
        })
    return rows


def _name(class_names: Optional[Sequence[str]], k: Optional[int]) -> Optional[str]:
    return None if k is None else (class_names[k] if class_names else str(k))
