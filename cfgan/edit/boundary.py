"""Boundary directions (InterFaceGAN): the unit normal of a linear SVM fitted in W on generated samples.

Samples are labelled by the classifier (predicted class). A boundary separates one class from the rest,
or one class from another (only samples of the two classes are used). It is fitted on a training split
and its accuracy is measured on the held-out split; both accuracies, the class balance and the offset are
kept in the direction's provenance. The normal points towards the positive class.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from .direction import Direction
from .samples import LatentSamples, labelled_samples

MIN_PER_CLASS = 10


def class_index(samples: LatentSamples, classifier, value) -> int:
    """A class index from a name or index, through the classifier when given, else the samples' names."""
    if classifier is not None:
        return classifier.class_index(value)
    k = samples.probs.shape[1]
    if isinstance(value, str) and not value.strip().isdigit():
        names = [n.lower() for n in (samples.class_names or [])]
        if value.strip().lower() not in names:
            raise ValueError(f"unknown class {value!r}; classes: {', '.join(samples.class_names or [])}")
        return names.index(value.strip().lower())
    index = int(value)
    if not 0 <= index < k:
        raise ValueError(f"class index {index} is out of range 0..{k - 1}")
    return index


def _name(samples: LatentSamples, index: int) -> str:
    return samples.class_names[index] if samples.class_names else str(index)


def fit_boundary(samples: LatentSamples, positive, negative=None, classifier=None, held_out: float = 0.25,
                 C: float = 1.0, seed: int = 0) -> Direction:
    """A linear SVM in W between ``positive`` and ``negative`` (default: every other class).

    Classes are balanced by weight (a class vs the rest is rare). Provenance records the held-out accuracy,
    the balanced held-out accuracy (mean of the per-side recalls), the training accuracy, the sample counts
    and ``offset``: a code w is on the positive side when ``normal . w + offset > 0``.
    """
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import train_test_split
    from sklearn.svm import LinearSVC

    pos = class_index(samples, classifier, positive)
    neg = None if negative is None else class_index(samples, classifier, negative)
    if neg is not None and neg == pos:
        raise ValueError(f"a boundary needs two different classes, got {_name(samples, pos)!r} twice")
    labels = samples.labels.numpy()
    idx = np.arange(len(samples)) if neg is None else np.flatnonzero((labels == pos) | (labels == neg))
    y = (labels[idx] == pos).astype(int)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    neg_name = "rest" if neg is None else _name(samples, neg)
    if min(n_pos, n_neg) < MIN_PER_CLASS:
        raise ValueError(f"only {n_pos} samples classified as {_name(samples, pos)!r} and {n_neg} as "
                         f"{neg_name!r} among {len(samples)}: a boundary needs at least {MIN_PER_CLASS} of each; "
                         "use more samples")
    train, test = train_test_split(np.arange(len(idx)), test_size=held_out, random_state=seed, stratify=y)
    x = samples.ws.numpy().astype(np.float64)[idx]
    mean = x[train].mean(0)
    svm = LinearSVC(C=C, class_weight="balanced", random_state=seed, max_iter=20000, dual=False)
    svm.fit(x[train] - mean, y[train])
    coef = svm.coef_[0]
    norm = float(np.linalg.norm(coef))
    pred_test = svm.predict(x[test] - mean)
    provenance = {
        "positive": _name(samples, pos), "negative": neg_name,
        "held_out_accuracy": float((pred_test == y[test]).mean()),
        "held_out_balanced_accuracy": float(balanced_accuracy_score(y[test], pred_test)),
        "train_accuracy": float((svm.predict(x[train] - mean) == y[train]).mean()),
        "n_train": int(len(train)), "n_held_out": int(len(test)), "n_positive": n_pos, "n_negative": n_neg,
        "offset": float((svm.intercept_[0] - coef @ mean) / norm), "C": float(C), "seed": int(seed),
        "samples": len(samples), "samples_seed": samples.seed,
    }
    name = f"boundary:{_name(samples, pos)}" if neg is None else \
        f"boundary:{_name(samples, neg)}->{_name(samples, pos)}"
    return Direction(name, "boundary", torch.from_numpy(coef / norm).float(), target=_name(samples, pos),
                     provenance=provenance)


def boundary_direction(G, classifier, positive, negative=None, samples: Optional[LatentSamples] = None,
                       n: int = 4000, seed: int = 0, held_out: float = 0.25, C: float = 1.0) -> Direction:
    """``fit_boundary`` on ``samples``, or on ``n`` freshly rendered seeded samples."""
    if samples is None:
        samples = labelled_samples(G, classifier, n, seed)
    return fit_boundary(samples, positive, negative, classifier, held_out, C, seed)
