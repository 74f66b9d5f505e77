"""Generated samples in W: the data PCA directions, fitted boundaries and surrogate trees are computed from.

``w_samples`` maps seeded z codes (cheap: the mapping network only). ``labelled_samples`` also renders
them and records the classifier's view (predicted class and probabilities): boundaries are fitted and
surrogate trees are grown on these. Everything is seeded: the same seed gives the same samples. (The spread
of W, the unit of edit strengths, is not measured here but by ``inversion.latent_stats``.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import numpy as np
import torch


def check_has_w(G) -> None:
    if "w" not in getattr(G, "spaces", ()):
        raise ValueError(f"{type(G).__name__} has no W space (no mapping network): latent edits need W")


def random_classes(G, n: int, seed: int) -> Optional[torch.Tensor]:
    """Seeded class vectors for a conditional generator (None for an unconditional one)."""
    if not getattr(G, "c_dim", 0):
        return None
    g = torch.Generator().manual_seed(int(seed))
    return G.one_hot(torch.randint(0, G.c_dim, (n,), generator=g))


@torch.no_grad()
def w_samples(G, n: int = 10000, seed: int = 0, truncation_psi: float = 1.0) -> torch.Tensor:
    """``n`` W codes [n, w_dim] (float32, CPU) of ``G.sample_z(n, seed)``.

    The one sampler of raw W codes, for what needs the codes themselves with a caller's count and seed: PCA
    directions (GANSpace fits on the samples). Summaries of W (centre, per-coordinate spread, covariance)
    come from ``inversion.latent_stats``, measured once per generator.
    """
    check_has_w(G)
    z = G.sample_z(n, seed)
    return G.mapping(z, random_classes(G, n, seed), truncation_psi=truncation_psi)[:, 0].detach().float().cpu()


@dataclass
class LatentSamples:
    """W codes of generated samples and what the classifier says about each image."""

    ws: torch.Tensor  # [n, w_dim] float32 CPU
    labels: torch.Tensor  # [n] predicted class
    probs: torch.Tensor  # [n, K]
    seed: int
    truncation_psi: float = 1.0
    class_names: Optional[List[str]] = None

    def __len__(self) -> int:
        return self.ws.shape[0]

    def split(self, held_out: float = 0.25, seed: Optional[int] = None,
              mask: Optional[torch.Tensor] = None) -> Tuple[np.ndarray, np.ndarray]:
        """(train, held-out) indices, stratified by label, seeded; ``mask`` restricts to some samples."""
        from sklearn.model_selection import train_test_split

        if not 0 < held_out < 1:
            raise ValueError(f"held_out must be a fraction in (0, 1), got {held_out}")
        idx = np.arange(len(self)) if mask is None else np.flatnonzero(mask.numpy())
        labels = self.labels.numpy()[idx]
        counts = np.bincount(labels)
        stratify = labels if counts[counts > 0].min() >= 2 else None
        train, test = train_test_split(idx, test_size=held_out, random_state=self.seed if seed is None else seed,
                                       stratify=stratify)
        return np.sort(train), np.sort(test)

    def subset(self, index) -> "LatentSamples":
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return LatentSamples(self.ws[index], self.labels[index], self.probs[index], self.seed,
                             self.truncation_psi, self.class_names)

    def class_counts(self) -> dict:
        counts = torch.bincount(self.labels, minlength=self.probs.shape[1]).tolist()
        names = self.class_names or [str(k) for k in range(len(counts))]
        return dict(zip(names, counts))


@torch.no_grad()
def labelled_samples(G, classifier, n: int = 4000, seed: int = 0, truncation_psi: float = 1.0,
                     batch: int = 250, progress: Optional[Callable[[int, int, dict], None]] = None
                     ) -> LatentSamples:
    """Render ``n`` seeded samples and classify them (W codes, predicted class, probabilities).

    Costs ``n`` generator and classifier evaluations, in batches of ``batch``.
    """
    check_has_w(G)
    if n < 10:
        raise ValueError(f"need at least 10 samples, got n={n}")
    z_all = G.sample_z(n, seed, device="cpu")
    c_all = random_classes(G, n, seed)
    ws_out, probs_out = [], []
    for s in range(0, n, batch):
        z = z_all[s:s + batch].to(G.device)
        c = None if c_all is None else c_all[s:s + batch]
        ws = G.mapping(z, c, truncation_psi=truncation_psi)
        images = G.synthesis(ws, noise_mode="const").float().clamp(-1, 1)
        probs_out.append(classifier.probs(images).float().cpu())
        ws_out.append(ws[:, 0].float().cpu())
        if progress is not None:
            progress(min(s + batch, n), n, {})
    probs = torch.cat(probs_out)
    return LatentSamples(torch.cat(ws_out), probs.argmax(1), probs, int(seed), float(truncation_psi),
                         list(classifier.class_names) if getattr(classifier, "class_names", None) else None)


def save_samples(path: str, samples: LatentSamples) -> str:
    """Keep labelled samples to fit more boundaries or surrogates without rendering again."""
    from generators.files import torch_save

    torch_save({"format": "cfgan.samples", "version": 1, "ws": samples.ws, "labels": samples.labels,
                "probs": samples.probs, "seed": samples.seed, "truncation_psi": samples.truncation_psi,
                "class_names": samples.class_names}, path)
    return path


def load_samples(path: str) -> LatentSamples:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"samples file not found: {path}") from None
    except Exception as err:
        raise ValueError(f"{path} is not a readable cfgan samples file ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != "cfgan.samples":
        raise ValueError(f"{path} is not a cfgan samples file (format marker 'cfgan.samples' missing)")
    return LatentSamples(payload["ws"], payload["labels"], payload["probs"], int(payload["seed"]),
                         float(payload.get("truncation_psi", 1.0)), payload.get("class_names"))
