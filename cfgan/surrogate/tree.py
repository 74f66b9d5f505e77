"""A shallow decision tree that predicts the classifier's label from a sample's coordinates along a few
latent directions: a global, human-sized account of the classifier in the generator's own directions.

Features are coordinates of W codes along unit W directions, centred and in sigma units (standard
deviations of the training samples along each direction), so a threshold reads "0.4 sigma more of PC 3".
Trees of every depth in ``depths`` are grown on a training split; their fidelity (agreement with the
classifier) is measured on held-out samples, next to the majority-class baseline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from cfgan.edit.direction import Direction
from cfgan.edit.samples import LatentSamples

DEPTHS = (1, 2, 3, 4, 5, 6)


@dataclass
class Surrogate:
    directions: List[Direction]
    mean: np.ndarray  # [w_dim] centre of the features (training mean)
    scales: np.ndarray  # [k] std of training samples along each direction
    tree: object  # sklearn DecisionTreeClassifier of ``depth``
    depth: int
    fidelity: Dict[int, dict]  # depth -> {held_out, train, leaves}
    baseline: float  # held-out agreement of always answering the training majority class
    samples: LatentSamples
    train: np.ndarray
    held_out: np.ndarray
    seed: int
    trees: Dict[int, object] = field(default_factory=dict)

    @property
    def feature_names(self) -> List[str]:
        return [d.name for d in self.directions]

    @property
    def class_names(self) -> Optional[List[str]]:
        return self.samples.class_names

    def class_name(self, k: int) -> str:
        return self.class_names[k] if self.class_names else str(k)

    def features(self, ws) -> np.ndarray:
        """Coordinates [n, k] of W codes [n, w_dim] along the directions, centred, in sigma units."""
        ws = ws.numpy() if torch.is_tensor(ws) else np.asarray(ws)
        return features_of(ws.astype(np.float64), self._matrix(), self.mean, self.scales)

    def predict(self, ws, depth: Optional[int] = None) -> np.ndarray:
        tree = self.tree if depth is None else self.trees[depth]
        return tree.predict(self.features(ws))

    def _matrix(self) -> np.ndarray:
        return np.stack([d.vector.numpy().astype(np.float64) for d in self.directions])

    def nodes(self) -> List[dict]:
        """The chosen tree as a list of nodes (id order): splits carry feature and threshold (sigma units),
        every node the training samples reaching it, its class counts and majority class."""
        t = self.tree.tree_
        x = self.features(self.samples.ws[self.train])
        paths = self.tree.decision_path(x).tocsc()
        labels = self.samples.labels.numpy()[self.train]
        k = self.samples.probs.shape[1]
        out = []
        depth_of = {0: 0}
        for i in range(t.node_count):
            reach = paths[:, i].nonzero()[0]
            counts = np.bincount(labels[reach], minlength=k)
            node = {"id": i, "depth": depth_of[i], "samples": int(len(reach)),
                    "counts": counts.tolist(), "class": self.class_name(int(counts.argmax())),
                    "purity": float(counts.max() / max(1, counts.sum()))}
            left, right = int(t.children_left[i]), int(t.children_right[i])
            if left >= 0:
                f = int(t.feature[i])
                depth_of[left] = depth_of[right] = depth_of[i] + 1
                node.update(feature=f, feature_name=self.feature_names[f], threshold=float(t.threshold[i]),
                            left=left, right=right)
            else:
                node["leaf"] = True
            out.append(node)
        for node in out:
            if "left" in node:
                node["left_class"], node["right_class"] = out[node["left"]]["class"], out[node["right"]]["class"]
        return out

    def to_json(self) -> dict:
        return {
            "depth": self.depth, "features": [d.describe() for d in self.directions],
            "feature_unit": "sigma: std of the training samples' W codes along the feature's direction",
            "fidelity_by_depth": {str(d): v for d, v in sorted(self.fidelity.items())},
            "majority_baseline": self.baseline, "nodes": self.nodes(),
            "samples": {"n": len(self.samples), "train": int(len(self.train)), "held_out": int(len(self.held_out)),
                        "seed": self.samples.seed, "counts": self.samples.class_counts()},
            "seed": self.seed, "class_names": self.class_names,
        }


def features_of(ws: np.ndarray, matrix: np.ndarray, mean: np.ndarray, scales: np.ndarray) -> np.ndarray:
    return ((ws - mean) @ matrix.T) / scales


def fit_surrogate(samples: LatentSamples, directions: Sequence[Direction], depth: int = 4,
                  depths: Sequence[int] = DEPTHS, held_out: float = 0.25, seed: int = 0,
                  min_samples_leaf: int = 5, train: Optional[np.ndarray] = None,
                  test: Optional[np.ndarray] = None) -> Surrogate:
    """Grow trees of every depth in ``depths`` (and ``depth``) on a training split; keep the one of ``depth``.

    ``directions`` must be W directions shared by all samples (PCA components, fitted boundaries, files).
    ``train``/``test`` fix the split (e.g. when the directions were fitted on the training part).
    """
    from sklearn.tree import DecisionTreeClassifier

    directions = list(directions)
    if not directions:
        raise ValueError("a surrogate needs at least one direction")
    for d in directions:
        if d.per_image or d.space != "w":
            raise ValueError(f"surrogate features must be W directions shared by all samples; {d.name!r} is "
                             f"{'per image' if d.per_image else 'a W+ direction'}")
        if d.w_dim != samples.ws.shape[1]:
            raise ValueError(f"direction {d.name!r} has w_dim {d.w_dim}, the samples {samples.ws.shape[1]}")
    if depth < 1:
        raise ValueError(f"tree depth must be at least 1, got {depth}")
    if train is None or test is None:
        train, test = samples.split(held_out, seed)
    ws = samples.ws.numpy().astype(np.float64)
    labels = samples.labels.numpy()
    matrix = np.stack([d.vector.numpy().astype(np.float64) for d in directions])
    mean = ws[train].mean(0)
    scales = ((ws[train] - mean) @ matrix.T).std(0)
    if bool((scales <= 1e-12).any()):
        flat = [directions[i].name for i in np.flatnonzero(scales <= 1e-12)]
        raise ValueError(f"the samples do not vary along {', '.join(flat)}")
    x = features_of(ws, matrix, mean, scales)
    fidelity, trees = {}, {}
    for d in sorted(set(depths) | {depth}):
        tree = DecisionTreeClassifier(max_depth=d, min_samples_leaf=min_samples_leaf, random_state=seed)
        tree.fit(x[train], labels[train])
        trees[d] = tree
        fidelity[d] = {"held_out": float((tree.predict(x[test]) == labels[test]).mean()),
                       "train": float((tree.predict(x[train]) == labels[train]).mean()),
                       "leaves": int(tree.get_n_leaves())}
    majority = np.bincount(labels[train]).argmax()
    baseline = float((labels[test] == majority).mean())
    return Surrogate(directions, mean, scales, trees[depth], depth, fidelity, baseline, samples,
                     np.asarray(train), np.asarray(test), seed, trees)


def surrogate_directions(G, kind: str = "pca", k: int = 8, samples: Optional[LatentSamples] = None,
                         train: Optional[np.ndarray] = None, classifier=None, seed: int = 0) -> List[Direction]:
    """Feature directions: the first ``k`` PCA components of W, or one boundary per class vs the rest
    (fitted on the training samples only, so held-out fidelity stays held out)."""
    if kind == "pca":
        from cfgan.edit.pca import pca_directions

        return pca_directions(G, k, seed=seed)
    if kind == "boundary":
        from cfgan.edit.boundary import MIN_PER_CLASS, fit_boundary

        if samples is None:
            raise ValueError("boundary features need labelled samples")
        fit_on = samples if train is None else samples.subset(train)
        counts = torch.bincount(fit_on.labels, minlength=fit_on.probs.shape[1])
        classes = [c for c in range(len(counts)) if MIN_PER_CLASS <= int(counts[c]) <= len(fit_on) - MIN_PER_CLASS]
        if not classes:
            raise ValueError("no class has enough samples on both sides for a boundary; use more samples")
        return [fit_boundary(fit_on, c, None, classifier, seed=seed) for c in classes]
    raise ValueError(f"surrogate directions must be 'pca' or 'boundary', got {kind!r}")
