"""Sample-quality measures: Frechet distance between feature sets and the class histogram of samples.

The Frechet distance here is the FID formula applied to whatever features the caller supplies (for
Fashion-MNIST: the bundled classifier's penultimate layer), so numbers are comparable only between runs
that use the same feature extractor. Everything is computed in float64 with numpy alone (no scipy).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch


@dataclass
class FeatureStats:
    """Mean and covariance of a feature set, all that the Frechet distance needs."""

    mean: np.ndarray  # [D]
    cov: np.ndarray  # [D, D]
    count: int


def _as_float64_matrix(feats, name: str) -> np.ndarray:
    if torch.is_tensor(feats):
        feats = feats.detach().cpu().double().numpy()
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2:
        raise ValueError(f"{name}: expected a [N, D] feature matrix, got shape {tuple(feats.shape)}")
    if feats.shape[0] < 2:
        raise ValueError(f"{name}: need at least 2 feature vectors to estimate a covariance, "
                         f"got {feats.shape[0]}")
    if not np.all(np.isfinite(feats)):
        raise ValueError(f"{name}: features contain NaN or infinite values")
    return feats


def feature_stats(feats, name: str = "features") -> FeatureStats:
    """Mean and unbiased covariance (rows are samples) of ``feats`` ([N, D] numpy array or tensor)."""
    feats = _as_float64_matrix(feats, name)
    mean = feats.mean(axis=0)
    centred = feats - mean
    cov = centred.T @ centred / (feats.shape[0] - 1)
    return FeatureStats(mean=mean, cov=cov, count=int(feats.shape[0]))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix; tiny negative eigenvalues (round-off) become 0."""
    vals, vecs = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def frechet_distance_from_stats(a: FeatureStats, b: FeatureStats) -> float:
    """|mu_a - mu_b|^2 + tr(A) + tr(B) - 2 tr((A^1/2 B A^1/2)^1/2).

    ``tr((A B)^1/2)`` is computed as the trace of the square root of the symmetric PSD matrix
    ``A^1/2 B A^1/2`` (same eigenvalues as ``A B``), which avoids the complex round-off of a general matrix
    square root and needs only ``eigh``.
    """
    if a.mean.shape != b.mean.shape:
        raise ValueError(f"feature dimensions differ: {a.mean.shape[0]} vs {b.mean.shape[0]}")
    sqrt_a = _psd_sqrt(a.cov)
    middle = sqrt_a @ b.cov @ sqrt_a
    middle_eigs = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = np.sqrt(np.clip(middle_eigs, 0, None)).sum()
    diff = a.mean - b.mean
    value = diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2 * trace_sqrt
    return float(max(value, 0.0))


def frechet_distance(feats_a, feats_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets.

    Each is an [N, D] numpy array or tensor, or precomputed ``FeatureStats``.
    """
    a = feats_a if isinstance(feats_a, FeatureStats) else feature_stats(feats_a, "feats_a")
    b = feats_b if isinstance(feats_b, FeatureStats) else feature_stats(feats_b, "feats_b")
    return frechet_distance_from_stats(a, b)


def class_histogram(probs, num_classes: Optional[int] = None) -> np.ndarray:
    """Fraction of samples the classifier assigns (argmax) to each class; sums to 1.

    A GAN that drops a class (mode collapse) shows up here as a near-zero bin.
    """
    if torch.is_tensor(probs):
        probs = probs.detach().cpu().double().numpy()
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(f"probs: expected a non-empty [N, num_classes] matrix, "
                         f"got shape {tuple(probs.shape)}")
    num_classes = probs.shape[1] if num_classes is None else int(num_classes)
    if probs.shape[1] != num_classes:
        raise ValueError(f"probs has {probs.shape[1]} columns but num_classes={num_classes}")
    counts = np.bincount(probs.argmax(axis=1), minlength=num_classes)
    return counts / counts.sum()


# -- features of images and of generator samples ------------------------------------------------------
@torch.no_grad()
def classifier_outputs(classifier, images: torch.Tensor, batch_size: int = 500):
    """(features [N, D], probabilities [N, K]) of ``images`` (uint8 or float in [-1, 1]), float32 on CPU.

    Batched so that 10,000 images fit any device; the classifier runs wherever its weights are.
    """
    from cfgan.data import to_model_range

    device = next(classifier.parameters()).device
    feats, probs = [], []
    for start in range(0, len(images), batch_size):
        batch = to_model_range(images[start:start + batch_size]).to(device)
        feats.append(classifier.features(batch).float().cpu())
        probs.append(classifier.probs(batch).float().cpu())
    return torch.cat(feats), torch.cat(probs)


@torch.no_grad()
def sample_outputs(G, classifier, n: int, seed: int = 0, batch_size: int = 500, truncation_psi: float = 1.0,
                   noise_mode: str = "const", keep: int = 64):
    """Classifier (features, probabilities) of ``n`` generator samples, plus the first ``keep`` images.

    The z codes are ``G.sample_z(n, seed)``: the same seed gives the same samples on every device.
    """
    if n < 2:
        raise ValueError(f"need at least 2 samples, got n={n}")
    z_all = G.sample_z(n, seed=seed, device="cpu")
    device = next(classifier.parameters()).device
    feats, probs, kept = [], [], []
    for start in range(0, n, batch_size):
        z = z_all[start:start + batch_size].to(G.device)
        images = G(z, truncation_psi=truncation_psi, noise_mode=noise_mode).float().clamp(-1, 1)
        if sum(len(k) for k in kept) < keep:
            kept.append(images[:keep - sum(len(k) for k in kept)].cpu())
        images = images.to(device)
        feats.append(classifier.features(images).float().cpu())
        probs.append(classifier.probs(images).float().cpu())
    return torch.cat(feats), torch.cat(probs), torch.cat(kept)


def median(values) -> Optional[float]:
    """Median of the values that exist (``None`` entries are paths that never crossed, etc.); None if none do."""
    present = [float(v) for v in values if v is not None]
    return statistics.median(present) if present else None
