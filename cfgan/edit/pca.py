"""PCA directions (GANSpace): principal components of the generator's W codes.

Components are unit vectors ordered by explained variance (component 0 varies most); their sign is
scikit-learn's deterministic convention. ``std`` in the provenance is the spread of W along the component,
which is exactly the unit of edit strengths for that direction.
"""
from __future__ import annotations

from typing import List

import numpy as np
import torch

from .direction import Direction
from .samples import w_samples


def pca_directions(G, k: int = 10, n: int = 10000, seed: int = 0) -> List[Direction]:
    """The first ``k`` principal components of ``n`` mapped W codes (seeded)."""
    from sklearn.decomposition import PCA

    if not 1 <= k <= G.w_dim:
        raise ValueError(f"number of PCA components must be in 1..{G.w_dim} (w_dim), got {k}")
    if n < 2 * k:
        raise ValueError(f"{n} samples are too few for {k} components")
    ws = w_samples(G, n, seed).numpy().astype(np.float64)
    pca = PCA(n_components=k, svd_solver="full").fit(ws)
    out = []
    for i in range(k):
        ev = float(pca.explained_variance_[i])
        out.append(Direction(f"pca:{i}", "pca", torch.from_numpy(pca.components_[i]).float(), provenance={
            "component": i, "explained_variance": ev, "explained_variance_ratio":
            float(pca.explained_variance_ratio_[i]), "std": ev ** 0.5, "samples": n, "seed": seed}))
    return out


def pca_direction(G, index: int, n: int = 10000, seed: int = 0) -> Direction:
    """Component ``index`` (0-based, 0 = most variance)."""
    if index < 0 or index >= G.w_dim:
        raise ValueError(f"PCA component {index} is out of range 0..{G.w_dim - 1}")
    return pca_directions(G, index + 1, n, seed)[index]
