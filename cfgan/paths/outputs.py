"""Files for a path: frames (PNG), mp4, gif, filmstrip, probability plot, change map, latents, JSON report.

Videos and the filmstrip are enlarged with nearest-neighbour sampling (small images stay crisp) and each
video frame carries a bar under the image showing p(target): green once the frame is classified as the
target, red before. With judges, one thinner bar per judge follows, showing the judge's p(target) (blue once
the judge classifies the frame as the target, grey before). matplotlib is imported lazily with the Agg
backend (no display needed).
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from cfgan.data import make_grid, save_image, to_uint8
from generators.files import atomic_path, write_json

from .result import PathResult


def enlarge(images: torch.Tensor, min_size: int, multiple: int = 1) -> torch.Tensor:
    """Nearest-neighbour upscale [N, C, H, W] so the short side is >= ``min_size`` (sides a multiple)."""
    h, w = images.shape[-2:]
    factor = max(1, -(-min_size // min(h, w)))
    while (h * factor) % multiple or (w * factor) % multiple:
        factor += 1
    return F.interpolate(images, scale_factor=factor, mode="nearest") if factor > 1 else images


def video_frames(frames: torch.Tensor, probs: Sequence[float], is_target: Sequence[bool],
                 min_size: int = 256, judges: Sequence[tuple] = ()) -> np.ndarray:
    """uint8 RGB [T, H', W', 3]: enlarged frames with a probability bar (height a multiple of 16), and one
    thinner bar per judge, given as (probs [T], is_target [T])."""
    big = enlarge(frames.float(), min_size, multiple=16)
    rgb = to_uint8(big).numpy().transpose(0, 2, 3, 1)
    if rgb.shape[-1] == 1:
        rgb = np.repeat(rgb, 3, axis=-1)
    t, h, w, _ = rgb.shape
    rows = 16 + 8 * len(judges)
    rows += -rows % 16  # keep the height a multiple of 16 (video codecs)
    bar = np.full((t, rows, w, 3), 40, dtype=np.uint8)
    for k in range(t):
        filled = int(round(float(probs[k]) * w))
        bar[k, 3:13, :filled] = (60, 200, 90) if is_target[k] else (220, 70, 60)
        bar[k, 3:13, w // 2 - 1:w // 2 + 1] = 255  # p = 0.5
        for j, (judge_probs, judge_target) in enumerate(judges):
            top = 16 + 8 * j
            filled = int(round(float(judge_probs[k]) * w))
            bar[k, top + 1:top + 6, :filled] = (70, 130, 230) if judge_target[k] else (150, 150, 150)
            bar[k, top + 1:top + 6, w // 2 - 1:w // 2 + 1] = 255
    return np.concatenate([rgb, bar], axis=1)


def write_video(path: str, frames: np.ndarray, fps: float) -> str:
    """An mp4 (H.264) of uint8 frames [T, H, W, 3], written atomically."""
    import imageio.v2 as imageio

    with atomic_path(path) as tmp:
        writer = imageio.get_writer(tmp, fps=fps, codec="libx264", macro_block_size=16, ffmpeg_log_level="error")
        try:
            for frame in frames:
                writer.append_data(frame)
        finally:
            writer.close()
    return path


def write_gif(path: str, frames: np.ndarray, fps: float) -> str:
    """A looping gif of uint8 frames [T, H, W, 3], written atomically."""
    import imageio.v3 as iio

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, frames, extension=".gif", duration=int(round(1000 / fps)), loop=0)
    return path


def save_figure(fig, path: str) -> str:
    """Save a matplotlib figure atomically (the format follows the suffix of ``path``)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    return path


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported only when a plot is drawn."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_probs(path: str, result: PathResult, i: int) -> str:
    plt = pyplot()
    report = result.path_report(i)
    x = list(range(result.num_frames))
    fig, ax = plt.subplots(figsize=(5, 3), dpi=120)
    ax.plot(x, report["probs"], "o-", color="tab:green", label=f"p({report['target_name']})")
    if report["source_probs"] is not None:
        ax.plot(x, report["source_probs"], "s--", color="tab:red", alpha=0.7,
                label=f"p({report['source_name']})")
    for name, verdict in (report["judges"] or {}).items():
        ax.plot(x, verdict["probs"], "^:", color="tab:blue", alpha=0.8, label=f"judge {name}: p(target)")
    ax.axhline(0.5, color="gray", lw=0.8, ls=":")
    if report["crossing_index"] is not None:
        ax.axvline(report["crossing_index"] - 0.5, color="black", lw=0.8, ls="--",
                   label=f"classified as {report['target_name']} from here")
    ax.set_xlabel("frame")
    ax.set_ylabel("probability")
    ax.set_ylim(-0.02, 1.02)
    status = ("monotone" if report["monotone"] else "NOT monotone") + (", crossed" if report["crossed"]
                                                                         else ", did not cross")
    if report["label"] is not None:
        status += f"; judges: {report['label']}"
    ax.set_title(f"{result.method}: {status}", fontsize=9)
    ax.legend(fontsize=7, loc="center left")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def change_map(frames: torch.Tensor, k: int) -> torch.Tensor:
    """|frame k - frame 0| averaged over channels [H, W], in image units (frames in [-1, 1]): where the
    subject had to change for the classifier's decision to move."""
    return (frames[k].float() - frames[0].float()).abs().mean(0)


def plot_change(path: str, result: PathResult, i: int) -> str:
    """Start, crossing frame (end frame if the path did not cross) and the change map between them."""
    plt = pyplot()
    report = result.path_report(i)
    frames = result.frames[i].float().cpu()
    k = report["crossing_index"] if report["crossing_index"] is not None else frames.shape[0] - 1
    label = "first frame classified as" if report["crossing_index"] is not None else "end frame, still not"
    diff = change_map(frames, k).numpy()
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8), dpi=120)
    for ax, t, title in ((axes[0], 0, f"start, p={report['probs'][0]:.2f}"),
                         (axes[1], k, f"{label}\n{report['target_name']}, p={report['probs'][k]:.2f}")):
        img = to_uint8(frames[t]).permute(1, 2, 0).numpy()
        ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=255,
                  interpolation="nearest")
        ax.set_title(title, fontsize=8)
    shown = axes[2].imshow(diff, cmap="magma", vmin=0, interpolation="nearest")
    axes[2].set_title(f"|change| (mean {diff.mean():.3f})", fontsize=8)
    fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.04)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def write_path(result: PathResult, i: int, folder: str, G=None, fps: float = 6.0, extra: Optional[dict] = None
               ) -> Dict[str, str]:
    """Write path ``i`` of ``result`` into ``folder``; returns the written files by kind."""
    from inversion import save_latents

    os.makedirs(os.path.join(folder, "frames"), exist_ok=True)
    frames = result.frames[i]
    files: Dict[str, str] = {}
    for t, img in enumerate(frames):
        save_image(img, os.path.join(folder, "frames", f"frame_{t:03d}.png"))
    files["frames"] = os.path.join(folder, "frames")
    strip = make_grid(enlarge(frames, 96), nrow=frames.shape[0], padding=4)
    files["filmstrip"] = str(save_image(strip, os.path.join(folder, "filmstrip.png")))
    report = result.path_report(i)
    is_target = [p == report["target"] for p in report["predicted"]]
    judge_bars = [(v["probs"], [p == v["target"] for p in v["predicted"]]) for v in (report["judges"] or {}).values()]
    vframes = video_frames(frames, report["probs"], is_target, judges=judge_bars)
    files["mp4"] = write_video(os.path.join(folder, "path.mp4"), vframes, fps)
    files["gif"] = write_gif(os.path.join(folder, "path.gif"), vframes, fps)
    files["plot"] = plot_probs(os.path.join(folder, "probs.png"), result, i)
    files["change"] = plot_change(os.path.join(folder, "change.png"), result, i)
    files["latents"] = save_latents(os.path.join(folder, "latents.pt"), result.path_code(i), G,
                                    metrics={"probs": report["probs"]}, settings=result.settings,
                                    extra={"path_index": i})
    payload = dict(report, method=result.method, frames=result.num_frames, settings=result.settings,
                   seed=result.settings.get("seed"), timings=result.timings, batch_size=len(result),
                   interrupted=result.interrupted,
                   files={k: os.path.relpath(v, folder) for k, v in files.items()},
                   **(extra or {}))
    path = os.path.join(folder, "report.json")
    write_json(path, payload)
    files["report"] = path
    return files


def write_paths(result: PathResult, out: str, names: Optional[List[str]] = None, G=None, fps: float = 6.0,
                extras: Optional[List[dict]] = None) -> List[Dict[str, str]]:
    """Write every path of ``result`` into ``out/<name>/``."""
    names = names or [f"path{i:03d}" for i in range(len(result))]
    if len(names) != len(result):
        raise ValueError(f"{len(names)} names for {len(result)} paths")
    return [write_path(result, i, os.path.join(out, name), G, fps, None if extras is None else extras[i])
            for i, name in enumerate(names)]


def side_by_side(path: str, result: PathResult, paths: Sequence[int], min_size: int = 64) -> str:
    """One row per path (in the order given, e.g. by rank): its frames, enlarged; for several explanations
    of one subject."""
    rows = torch.cat([result.frames[i] for i in paths])
    grid = make_grid(enlarge(rows.float(), min_size), nrow=result.num_frames, padding=4)
    return str(save_image(grid, path))

