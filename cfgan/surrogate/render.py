"""Pictures of a surrogate tree: an edit strip per split and the whole tree in one figure.

A split "feature <= t" is shown by moving a typical sample of the node (the training sample reaching it
that lies nearest the median of those samples, in sigma units) along the split's direction from
``t - span`` to ``t + span`` sigma, all else fixed, and classifying every frame: the strip reads "more of
this visual change -> the right child's class". Leaves show their own typical sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
import torch

from cfgan.paths.outputs import save_figure
from inversion import LatentCode

from .tree import Surrogate


@dataclass
class Strip:
    node: int
    feature: int
    feature_name: str
    threshold: float
    values: List[float]  # feature value of each frame (sigma units)
    sample: int  # index into the surrogate's samples
    images: torch.Tensor  # [F, C, H, W]
    probs: torch.Tensor  # [F, K]
    left_class: str
    right_class: str

    def to_json(self, class_names: Optional[List[str]]) -> dict:
        pred = self.probs.argmax(1).tolist()
        return {"node": self.node, "feature": self.feature_name, "threshold": self.threshold,
                "sample": self.sample, "values": self.values, "left_class": self.left_class,
                "right_class": self.right_class,
                "predicted": [class_names[k] if class_names else str(k) for k in pred],
                "p_right_class": [float(p) for p in self.probs[:, _index(class_names, self.right_class)]]}


def _index(class_names, name: str) -> int:
    return class_names.index(name) if class_names else int(name)


def typical_samples(surrogate: Surrogate) -> Dict[int, int]:
    """Node id -> index (into the samples) of a typical training sample of the node: for a split, the one
    nearest the median of all samples reaching it; for a leaf, of those the classifier puts in the leaf's
    class (so a leaf's picture shows its class)."""
    x = surrogate.features(surrogate.samples.ws[surrogate.train])
    labels = surrogate.samples.labels.numpy()[surrogate.train]
    paths = surrogate.tree.decision_path(x).tocsc()
    t = surrogate.tree.tree_
    out = {}
    for i in range(t.node_count):
        reach = paths[:, i].nonzero()[0]
        if t.children_left[i] < 0:
            majority = np.bincount(labels[reach]).argmax()
            reach = reach[labels[reach] == majority]
        median = np.median(x[reach], axis=0)
        out[i] = int(surrogate.train[reach[np.argmin(((x[reach] - median) ** 2).sum(1))]])
    return out


@torch.no_grad()
def render_ws(G, classifier, ws: torch.Tensor):
    """(images, probs) of W codes [n, w_dim], on CPU."""
    code = LatentCode("w", ws.to(G.device, torch.float32))
    images = code.render(G).float().clamp(-1, 1)
    return images.cpu(), classifier.probs(images).float().cpu()


def split_strips(G, classifier, surrogate: Surrogate, frames: int = 6, span: float = 2.0) -> List[Strip]:
    """One strip per split of the chosen tree: the node's typical sample moved across the threshold."""
    if frames < 2:
        raise ValueError(f"a strip needs at least 2 frames, got {frames}")
    if getattr(G, "c_dim", 0):
        raise ValueError("surrogate strips are not available for conditional generators yet")
    typical = typical_samples(surrogate)
    nodes = surrogate.nodes()
    strips = []
    for node in nodes:
        if "feature" not in node:
            continue
        f, thr = node["feature"], node["threshold"]
        idx = typical[node["id"]]
        w = surrogate.samples.ws[idx].double()
        u = surrogate.directions[f].vector.double()
        x = float(surrogate.features(w[None])[0, f])
        values = (thr + span * np.linspace(-1, 1, frames)).tolist()
        ws = torch.stack([w + (v - x) * float(surrogate.scales[f]) * u for v in values]).float()
        images, probs = render_ws(G, classifier, ws)
        strips.append(Strip(node["id"], f, node["feature_name"], thr, values, idx, images, probs,
                            node["left_class"], node["right_class"]))
    return strips


def _imshow(ax, image: torch.Tensor):
    img = ((image.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()
    ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def write_strip(path: str, strip: Strip, class_names: Optional[List[str]]) -> str:
    """A strip PNG: frames left to right with the classifier's answer under each, the threshold marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = strip.images.shape[0]
    fig = Figure(figsize=(1.1 * n + 0.4, 2.1), dpi=100)
    FigureCanvasAgg(fig)
    fig.suptitle(f"node {strip.node}: more {strip.feature_name} (> {strip.threshold:+.2f} sigma) -> "
                 f"{strip.right_class}; less -> {strip.left_class}", fontsize=8)
    right = _index(class_names, strip.right_class)
    for j in range(n):
        ax = fig.add_axes((0.2 / (1.1 * n + 0.4) + j / n * (1 - 0.4 / (1.1 * n + 0.4)), 0.22, 0.9 / (1.1 * n + 0.4),
                           0.6))
        _imshow(ax, strip.images[j])
        k = int(strip.probs[j].argmax())
        name = class_names[k] if class_names else str(k)
        ax.set_xlabel(f"{strip.values[j]:+.2f}\n{name[:11]} {float(strip.probs[j, k]):.2f}", fontsize=6,
                      color="green" if k == right else "black")
        if strip.values[j] > strip.threshold and (j == 0 or strip.values[j - 1] <= strip.threshold):
            for spine in ax.spines.values():
                spine.set_edgecolor("red")
                spine.set_linewidth(1.5)
    return save_figure(fig, path)


def write_tree_figure(path: str, surrogate: Surrogate, strips: List[Strip], leaf_images: Dict[int, torch.Tensor],
                      strip_frames: int = 4, dpi: int = 80) -> str:
    """The chosen tree: each split with its rule and a short version of its strip, each leaf with its class,
    purity, sample count and typical sample; held-out fidelity in the title."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    nodes = surrogate.nodes()
    by_id = {n["id"]: n for n in nodes}
    strip_of = {s.node: s for s in strips}
    leaves = [n["id"] for n in _in_order(by_id, 0) if n.get("leaf")]
    slot = {leaf: i for i, leaf in enumerate(leaves)}
    xs: Dict[int, float] = {}

    def place(i):
        n = by_id[i]
        if n.get("leaf"):
            xs[i] = slot[i] + 0.5
        else:
            place(n["left"])
            place(n["right"])
            xs[i] = (xs[n["left"]] + xs[n["right"]]) / 2

    place(0)
    depth = max(n["depth"] for n in nodes)
    slot_w, level_h = 1.6, 1.75
    width, height = max(6.0, slot_w * len(leaves)), level_h * (depth + 1) + 0.5
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    fid = surrogate.fidelity[surrogate.depth]["held_out"]
    fig.suptitle(f"surrogate tree, depth {surrogate.depth}: agrees with the classifier on {fid:.1%} of held-out "
                 f"samples (majority baseline {surrogate.baseline:.1%}); splits in sigma units", fontsize=9)

    def fx(x):
        return x * slot_w / width

    def fy(d):
        return 1 - (0.5 + level_h * (d + 0.15)) / height

    class_names = surrogate.class_names
    for n in nodes:
        x, y = fx(xs[n["id"]]), fy(n["depth"])
        if n.get("leaf"):
            size = 0.8 * slot_w / width
            ax = fig.add_axes((x - size / 2, y - 0.95 / height, size, 0.8 / height * 1.0))
            _imshow(ax, leaf_images[n["id"]])
            ax.set_title(f"{n['class']}\n{n['purity']:.0%} of {n['samples']}", fontsize=7)
            continue
        for child, sign in ((n["left"], "<="), (n["right"], ">")):
            c = by_id[child]
            fig.add_artist(Line2D([x, fx(xs[child])], [y - 0.95 / height, fy(c["depth"]) + 0.28 / height],
                                  transform=fig.transFigure, color="gray", lw=0.8))
            fig.text((x + fx(xs[child])) / 2, (y - 0.95 / height + fy(c["depth"]) + 0.28 / height) / 2, sign,
                     fontsize=7, ha="center", va="center", color="dimgray")
        fig.text(x, y + 0.12 / height, f"{n['feature_name']} <= {n['threshold']:+.2f}  (n={n['samples']})",
                 fontsize=7, ha="center", va="bottom")
        strip = strip_of.get(n["id"])
        if strip is None:
            continue
        pick = np.linspace(0, strip.images.shape[0] - 1, min(strip_frames, strip.images.shape[0])).round().astype(int)
        frame_w = 0.42 * slot_w / width
        total = frame_w * len(pick)
        for j, k in enumerate(pick):
            ax = fig.add_axes((x - total / 2 + j * frame_w, y - 0.85 / height, frame_w * 0.95, 0.8 / height))
            _imshow(ax, strip.images[k])
            kk = int(strip.probs[k].argmax())
            ax.set_xlabel((class_names[kk] if class_names else str(kk))[:8], fontsize=5, labelpad=1)
    return save_figure(fig, path)


def _in_order(by_id, i):
    n = by_id[i]
    if n.get("leaf"):
        return [n]
    return _in_order(by_id, n["left"]) + [n] + _in_order(by_id, n["right"])
