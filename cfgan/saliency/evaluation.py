"""One saliency method on a batch of images: its maps, its cost, and every faithfulness and robustness number.

``evaluate_batch`` is what ``cfgan evaluate`` runs per batch of (method, image) items and what
``scripts/eval_saliency.py`` aggregates: per image the pixel-flip decisions for each fill and tau, the
deletion and insertion AUCs, the top-k overlap and rank correlation after a Ghorbani attack, captum's
sensitivity-max, and the seconds the method took per image. ``summarize`` turns per-image records into the
per-method row of the CSV.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from .metrics import CONSTANT_FILLS, deletion_insertion, flip_curve
from .registry import pixel_scores
from .robustness import DEFAULT_EPS, attack, sensitivity_max

FILLS = ("gray", "black", "white", "gan")


@dataclass
class EvalSettings:
    """What ``evaluate_batch`` measures and how finely (recorded with every run)."""

    taus: Sequence[float] = tuple(i / 10 for i in range(11))
    fills: Sequence[str] = FILLS
    auc_steps: int = 16
    auc_fill: str = "gray"
    k: int = 100
    eps: float = DEFAULT_EPS
    attack_steps: int = 20
    restarts: int = 3
    sensitivity_samples: int = 4
    sensitivity_radius: float = 0.02
    robustness: bool = True
    #: attack and sensitivity only the first this many images of a run (each costs the method ~8 more calls)
    robustness_images: Optional[int] = None
    max_batch: Optional[int] = 64
    seed: int = 0

    def check(self) -> "EvalSettings":
        unknown = [f for f in self.fills if f not in CONSTANT_FILLS and f != "gan"]
        if unknown:
            raise ValueError(f"unknown fill {unknown[0]!r}: use {', '.join(FILLS)}")
        if any(not 0 <= t <= 1 for t in self.taus) or list(self.taus) != sorted(self.taus):
            raise ValueError(f"taus must rise within [0, 1], got {list(self.taus)}")
        return self

    def record(self) -> dict:
        out = asdict(self)
        out["taus"] = [float(t) for t in self.taus]
        out["fills"] = list(self.fills)
        return out


def explainer(method, name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(images, target) -> [N, H, W]`` maps of a registry method, higher = more important."""
    def explain(images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return pixel_scores(method.attribute(images, target=target), name).detach()
    return explain


def evaluate_batch(method, name: str, classifier, images: torch.Tensor, seeds: Sequence[int],
                   settings: EvalSettings, gan_fill=None, progress=None,
                   indices: Optional[Sequence[int]] = None) -> List[dict]:
    """Per-image records for ``images`` [N, C, H, W] explained (predicted class) by ``method``.

    ``seeds``: one per image (its place in the run), so an image's numbers never depend on its batch.
    ``gan_fill``: the in-filler used for the ``gan`` fill (``fill(images, keep) -> images``); without it that
    fill is skipped. ``indices``: the images' places in the run (for ``robustness_images``; default 0..N-1).
    """
    x = images.detach()
    n = x.shape[0]
    with torch.no_grad():
        target = torch.cat([classifier(x[s:s + (settings.max_batch or n)]).argmax(1)
                            for s in range(0, n, settings.max_batch or n)])
    explain = explainer(method, name)
    started = time.perf_counter()
    maps = explain(x, target).cpu()
    seconds = (time.perf_counter() - started) / n
    records = [{"method": name, "target": int(target[i]), "seconds": round(seconds, 5)} for i in range(n)]
    for fill in settings.fills:
        if fill == "gan" and gan_fill is None:
            continue
        curve = flip_curve(classifier, x, maps, settings.taus, gan_fill if fill == "gan" else fill, seeds=seeds,
                           max_batch=settings.max_batch)
        for i in range(n):
            records[i][f"flip_{fill}"] = [int(v) for v in curve["changed"][:, i].tolist()]
    di = deletion_insertion(classifier, x, maps, settings.auc_steps, settings.auc_fill, target=target, seeds=seeds,
                            max_batch=settings.max_batch)
    for i in range(n):
        records[i]["deletion_auc"] = float(di["deletion_auc"][i])
        records[i]["insertion_auc"] = float(di["insertion_auc"][i])
    indices = list(range(n)) if indices is None else list(indices)
    robust = [i for i in range(n) if settings.robustness and (settings.robustness_images is None
                                                              or indices[i] < settings.robustness_images)]
    if robust:
        sel = torch.tensor(robust, device=x.device)
        rseeds = [seeds[i] for i in robust]
        rob = attack(explain, name, classifier, x[sel], target[sel], eps=settings.eps, k=settings.k,
                     steps=settings.attack_steps, restarts=settings.restarts, seeds=rseeds, maps=maps[sel.cpu()],
                     max_batch=settings.max_batch, progress=progress)
        sens = sensitivity_max(explain, x[sel], target[sel], settings.sensitivity_radius,
                               settings.sensitivity_samples, seed=int(rseeds[0]), max_batch=settings.max_batch)
        for j, i in enumerate(robust):
            records[i].update(topk_overlap=float(rob.topk_overlap[j]), rank_correlation=_num(rob.rank_correlation[j]),
                              attacked=bool(rob.attacked[j]), attack=rob.attack, linf=float(rob.linf[j]),
                              sensitivity_max=float(sens[j]))
    for i in range(n):
        records[i]["map"] = maps[i].numpy()
    return records


def _num(value) -> Optional[float]:
    value = float(value)
    return None if math.isnan(value) else value


def _mean(values) -> Optional[float]:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarize(records: Sequence[dict], taus: Sequence[float], fills: Sequence[str]) -> Dict[str, dict]:
    """Per method: images, mean flip curve per fill, mean AUCs and robustness numbers, seconds per image."""
    by_method: Dict[str, List[dict]] = {}
    for r in records:
        by_method.setdefault(r["method"], []).append(r)
    out = {}
    for name, rows in by_method.items():
        row = {"method": name, "images": len(rows), "seconds_per_image": _mean(r["seconds"] for r in rows)}
        for fill in fills:
            curves = [r[f"flip_{fill}"] for r in rows if f"flip_{fill}" in r]
            row[f"flip_{fill}"] = (np.mean(np.asarray(curves, dtype=np.float64), 0).tolist() if curves else None)
        for key in ("deletion_auc", "insertion_auc", "topk_overlap", "rank_correlation", "sensitivity_max"):
            row[key] = _mean(r.get(key) for r in rows)
        out[name] = row
    return out


def csv_rows(summary: Dict[str, dict], taus: Sequence[float], fills: Sequence[str]) -> List[List]:
    """Header and one row per method: flip-curve points per fill (``flip_gray@0.3``...), AUCs, robustness."""
    header = ["method", "images"]
    header += [f"flip_{f}@{t:g}" for f in fills for t in taus]
    header += ["deletion_auc", "insertion_auc", "topk_overlap", "rank_correlation", "sensitivity_max",
               "seconds_per_image"]
    rows = [header]
    for name, row in summary.items():
        cells = [name, row["images"]]
        for f in fills:
            curve = row.get(f"flip_{f}")
            cells += [("" if curve is None else round(v, 4)) for v in (curve or [None] * len(taus))]
        cells += [("" if row[k] is None else round(row[k], 5)) for k in header[len(cells):]]
        rows.append(cells)
    return rows


def plot(summary: Dict[str, dict], taus: Sequence[float], fills: Sequence[str], path) -> None:
    """One figure: a panel per fill, a pixel-flip curve per method (lower = more faithful)."""
    from cfgan.paths.outputs import pyplot, save_figure

    plt = pyplot()
    shown = [f for f in fills if any(r.get(f"flip_{f}") for r in summary.values())] or list(fills[:1])
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.8), squeeze=False)
    for ax, fill in zip(axes[0], shown):
        for j, (name, row) in enumerate(summary.items()):
            if row.get(f"flip_{fill}"):  # ten colours, then the same colours dashed
                ax.plot([100 * t for t in taus], row[f"flip_{fill}"], marker=".", label=name,
                        color=plt.cm.tab10(j % 10), linestyle="-" if j < 10 else "--")
        ax.set_title(f"pixel flipping, {fill} fill")
        ax.set_xlabel("tau: least important pixels flipped (%)")
        ax.set_ylabel("decisions changed (fraction)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, max(1, len(labels))), fontsize=8)
    fig.tight_layout(rect=(0, 0.06 * (1 + (len(labels) - 1) // 6), 1, 1))
    fig.set_dpi(110)
    save_figure(fig, str(path))
    plt.close(fig)


def gan_fill(generator, seed: int = 0, max_batch: Optional[int] = None, bank: int = 256):
    """The generative fill of the flip test, ``fill(images, keep) -> images``: content for the dropped pixels
    from ``generator``, consistent with the kept ones: FIDO's amortised in-filler
    (``cfgan.saliency.infill.GanBankInfill``), always the nearest sample of a seeded bank on the kept pixels, so
    the fill is deterministic."""
    from .infill import GanBankInfill

    infiller = GanBankInfill(generator, bank=bank, neighbours=1, seed=seed, max_batch=max_batch)

    def fill(images: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        infiller.prepare(images)
        index = torch.arange(images.shape[0], device=images.device)
        return infiller.fill(index, keep, torch.zeros_like(images)).to(images.dtype)
    return fill
