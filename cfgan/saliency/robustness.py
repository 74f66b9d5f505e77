"""Robustness of a saliency map (Ghorbani et al., AAAI 2019, "Interpretation of neural networks is fragile").

An attack looks for a perturbation within an L-inf budget ``eps`` that keeps the predicted class but moves
the map's top-k pixels; the map's robustness is what is left of them: the top-k intersection before/after and
the Spearman rank correlation of all pixels (scipy). captum's ``sensitivity_max`` (the largest relative change
of the map under small uniform noise) is reported beside them.

Two attacks, both seeded:

- **PGD on a differentiable proxy** for the gradient family (``gradient``, ``integrated-gradients``,
  ``smoothgrad``): the proxy map is the method's own formula computed with ``create_graph=True`` on a copy of
  the classifier whose ReLUs are softplus (a ReLU network's gradient is piecewise constant, so its second
  derivative is zero almost everywhere; Ghorbani et al. make the same swap). The loss is the share of the
  original top-k pixels in the proxy map plus a hinge that keeps the class; it is minimised through
  ``inversion.optimize`` (the one loop) with a projection onto the budget and the image range after each step.
- **Random signs** for every other method (perturbation, mask and sampling methods are not differentiable
  end to end): ``restarts`` perturbations ``eps * sign(u)``, each image's from its own seeded stream; of those
  that keep the class, the one that moves the top-k most.

Either way the perturbation is verified on the real classifier: one that changes the class is halved (up to
three times) and otherwise dropped (the image counts as not attacked, overlap 1).

Budget. ``DEFAULT_EPS`` is Ghorbani et al.'s 8/255 of the [0, 1] range, i.e. 16/255 in cfgan's [-1, 1] range.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from inversion.optimize import optimize

from .base import seeded
from .metrics import item_seeds, pixel_ranks

#: 8/255 in [0, 1] units, expressed in cfgan's [-1, 1] image range
DEFAULT_EPS = 2 * 8 / 255
#: ``explain(images [N, C, H, W], target [N]) -> score maps [N, H, W]`` (higher = more important)
Explain = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
DIFFERENTIABLE = ("gradient", "integrated-gradients", "smoothgrad")


# -- comparing maps --------------------------------------------------------------------------------------
def top_k(maps: torch.Tensor, k: int, seeds: Sequence[int]) -> torch.Tensor:
    """bool [N, H*W]: each image's k highest-scoring pixels (ties broken by the seeded permutation)."""
    p = maps[0].numel()
    if not 1 <= k <= p:
        raise ValueError(f"k must be between 1 and the {p} pixels of a map, got {k}")
    return pixel_ranks(maps, seeds) >= p - k


def topk_overlap(before: torch.Tensor, after: torch.Tensor, k: int, seeds: Sequence[int]) -> np.ndarray:
    """Fraction of the top-k pixels of ``before`` still in the top-k of ``after``, per image.

    Ties are broken by the same seeded permutation before and after, so identical maps overlap fully. A map
    whose top is one large tied block (``mip-lp``'s w at its bound: about 8 distinct values per map on
    Fashion-MNIST) keeps its tie order under any attack that leaves the block in place, which inflates its
    overlap; read the rank correlation (average ranks for ties) for such maps."""
    a, b = top_k(before, k, seeds), top_k(after, k, seeds)
    return ((a & b).sum(1).float() / k).numpy()


def rank_correlation(before: torch.Tensor, after: torch.Tensor) -> np.ndarray:
    """Spearman's rho of each pair of maps over all pixels (NaN where a map is constant)."""
    from scipy.stats import spearmanr

    out = []
    for a, b in zip(before.reshape(len(before), -1).cpu().numpy(), after.reshape(len(after), -1).cpu().numpy()):
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            out.append(np.nan)
        else:
            out.append(float(spearmanr(a, b).statistic))
    return np.asarray(out)


# -- differentiable proxies ------------------------------------------------------------------------------
def smooth_copy(classifier, beta: float = 10.0):
    """A frozen copy of ``classifier`` with every ``nn.ReLU`` replaced by ``Softplus(beta)``."""
    clone = copy.deepcopy(classifier).eval().requires_grad_(False)
    for module in list(clone.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.ReLU):
                setattr(module, name, torch.nn.Softplus(beta=beta))
    return clone


def _input_gradient(model, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if not x.requires_grad:
        x = x.requires_grad_(True)
    score = model(x).gather(1, target.view(-1, 1)).sum()
    return torch.autograd.grad(score, x, create_graph=True)[0]


def proxy_map(name: str, model, x: torch.Tensor, target: torch.Tensor, noise: Optional[torch.Tensor] = None,
              ig_steps: int = 8) -> torch.Tensor:
    """The differentiable map [N, H, W] of method ``name``, read like ``pixel_scores`` reads the method's own
    attributions (channel mean of |gradient| for gradient and smoothgrad, signed channel mean for IG)."""
    if name == "gradient":
        return _input_gradient(model, x, target).abs().mean(1)
    if name == "integrated-gradients":  # baseline 0, midpoint rule over the straight path
        alphas = [(i + 0.5) / ig_steps for i in range(ig_steps)]
        return (x * sum(_input_gradient(model, a * x, target) for a in alphas) / ig_steps).mean(1)
    if name == "smoothgrad":
        return (sum(_input_gradient(model, x + n, target).abs() for n in noise) / len(noise)).mean(1)
    raise ValueError(f"no differentiable proxy for method {name!r}; use the random-sign attack")


# -- the attack ------------------------------------------------------------------------------------------
@dataclass
class Robustness:
    """Per image: the perturbation, whether one keeping the class was found, and what is left of the map."""

    perturbed: torch.Tensor
    attacked: np.ndarray  # bool [N]
    linf: np.ndarray  # [N], in [-1, 1] units
    label_kept: np.ndarray  # bool [N] (always true: a perturbation that changes the class is dropped)
    topk_overlap: np.ndarray
    rank_correlation: np.ndarray
    maps_before: torch.Tensor
    maps_after: torch.Tensor
    attack: str

    def summary(self) -> Dict[str, Optional[float]]:
        def mean(v):
            v = np.asarray(v, dtype=np.float64)
            return None if np.isnan(v).all() else float(np.nanmean(v))
        return {"topk_overlap": mean(self.topk_overlap), "rank_correlation": mean(self.rank_correlation),
                "attacked": float(np.mean(self.attacked)), "attack": self.attack}


@torch.no_grad()
def _predict(classifier, x: torch.Tensor, max_batch: Optional[int]) -> torch.Tensor:
    step = max_batch or x.shape[0]
    return torch.cat([classifier(x[s:s + step]).argmax(1) for s in range(0, x.shape[0], step)])


def _keep_label(classifier, x, delta, target, max_batch):
    """Halve perturbations that change the class (up to three times), then drop those that still do."""
    delta = delta.clone()
    for _ in range(4):
        bad = _predict(classifier, x + delta, max_batch) != target
        if not bool(bad.any()):
            break
        delta[bad] *= 0.5
    bad = _predict(classifier, x + delta, max_batch) != target
    delta[bad] = 0
    return delta


def pgd_attack(name: str, classifier, x: torch.Tensor, target: torch.Tensor, maps: torch.Tensor, k: int,
               eps: float, steps: int, seeds: Sequence[int], margin: float = 0.5, label_weight: float = 10.0,
               smoothgrad_samples: int = 8, smoothgrad_sigma: float = 0.3, max_batch: Optional[int] = None,
               progress=None) -> torch.Tensor:
    """Perturbations [N, C, H, W] within ``eps`` that push the proxy map of ``name`` off the top-k of ``maps``
    while the class keeps a log-probability margin over the runner-up (``margin``, or half the clean image's
    margin where that is smaller, so the penalty is zero at the start)."""
    smooth = smooth_copy(classifier)
    topk = top_k(maps, k, seeds).reshape(maps.shape).to(x.device).float()
    streams = [torch.Generator().manual_seed(int(s)) for s in seeds]
    delta = torch.stack([(torch.rand(x.shape[1:], generator=g) * 2 - 1) * eps / 2 for g in streams]).to(x.device)
    delta.requires_grad_(True)
    noise = None
    if name == "smoothgrad":  # fixed noise samples per image (the same at every step)
        noise = torch.stack([torch.stack([torch.randn(x.shape[1:], generator=g) * smoothgrad_sigma
                                          for g in streams]) for _ in range(smoothgrad_samples)]).to(x.device)

    with torch.no_grad():  # the margin to keep: ``margin``, or half the clean one where that is smaller
        logp0 = F.log_softmax(classifier(x), 1)
        gap0 = logp0.gather(1, target.view(-1, 1))[:, 0] - logp0.scatter(1, target.view(-1, 1),
                                                                           float("-inf")).max(1).values
        keep_margin = torch.minimum(torch.full_like(gap0, margin), gap0 / 2)

    def objective(step, t, items=None):
        idx = torch.arange(x.shape[0], device=x.device) if items is None else items.to(x.device)
        ti = target[idx]
        with torch.enable_grad():  # the loop's closing evaluation runs without gradients; the proxy needs them
            xi = x[idx] + delta[idx]
            saliency = proxy_map(name, smooth, xi, ti, None if noise is None else noise[:, idx])
        share = (saliency * topk[idx]).flatten(1).sum(1) / saliency.abs().flatten(1).sum(1).clamp_min(1e-12)
        logp = F.log_softmax(classifier(xi), 1)
        own = logp.gather(1, ti.view(-1, 1))[:, 0]
        rival = logp.scatter(1, ti.view(-1, 1), float("-inf")).max(1).values
        hinge = F.relu(rival - own + keep_margin[idx])
        return share + label_weight * hinge, {"topk_share": share.detach(), "hinge": hinge.detach()}

    def project():
        delta.clamp_(-eps, eps)
        delta.copy_((x + delta).clamp(-1, 1) - x)

    optimize([delta], objective, steps, lr=eps / 8, keep_best=True, project=project, memory=max_batch,
             progress=progress)
    return delta.detach()


def random_sign_candidates(x: torch.Tensor, eps: float, restarts: int, seeds: Sequence[int]) -> torch.Tensor:
    """[R, N, C, H, W] perturbations ``eps * sign(u)``, image i's drawn from the stream seeded ``seeds[i]``."""
    out = []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s) + 7919)
        out.append(torch.where(torch.rand((restarts, *x.shape[1:]), generator=g) < 0.5, -eps, eps))
    delta = torch.stack(out, 1).to(x.device, x.dtype)
    return (x.unsqueeze(0) + delta).clamp(-1, 1) - x.unsqueeze(0)


def attack(explain: Explain, name: str, classifier, images: torch.Tensor, target: Optional[torch.Tensor] = None,
           eps: float = DEFAULT_EPS, k: int = 100, steps: int = 30, restarts: int = 4, seed: int = 0,
           seeds: Optional[Sequence[int]] = None, maps: Optional[torch.Tensor] = None,
           max_batch: Optional[int] = None, progress=None) -> Robustness:
    """Attack the maps of method ``name`` (computed by ``explain``) on ``images``; see the module docstring.

    ``target``: the explained class (default: the prediction; the attack keeps the *prediction*). ``maps``: the
    maps of the clean images when already computed. PGD for ``DIFFERENTIABLE`` methods (``steps``), random
    signs (best of ``restarts``) otherwise.
    """
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    x = images.detach()
    n = x.shape[0]
    seeds = item_seeds(n, seed, seeds)
    predicted = _predict(classifier, x, max_batch)
    target = predicted if target is None else torch.as_tensor(target, device=x.device).reshape(-1).expand(n)
    if maps is None:
        maps = explain(x, target).detach()
    maps = maps.detach().cpu().float()
    if name in DIFFERENTIABLE and getattr(classifier, "has_gradients", True):
        delta = pgd_attack(name, classifier, x, predicted, maps, k, eps, steps, seeds, max_batch=max_batch,
                           progress=progress)
        delta = _keep_label(classifier, x, delta, predicted, max_batch)
        after = explain(x + delta, target).detach().cpu().float()
        kind = "pgd"
    else:
        candidates = random_sign_candidates(x, eps, restarts, seeds)  # [R, N, ...]
        flat = candidates.reshape(restarts * n, *x.shape[1:])
        xs = x.repeat(restarts, 1, 1, 1)
        kept = (_predict(classifier, xs + flat, max_batch) == predicted.repeat(restarts)).reshape(restarts, n)
        cand_maps = explain(xs + flat, target.repeat(restarts)).detach().cpu().float().reshape(restarts, n,
                                                                                                *maps.shape[1:])
        overlaps = np.stack([topk_overlap(maps, cand_maps[r], k, seeds) for r in range(restarts)])
        overlaps[~kept.cpu().numpy()] = np.inf
        best = overlaps.argmin(0)
        found = np.isfinite(overlaps.min(0))
        delta = torch.stack([candidates[best[i], i] if found[i] else torch.zeros_like(x[i]) for i in range(n)])
        after = torch.stack([cand_maps[best[i], i] if found[i] else maps[i] for i in range(n)])
        kind = "random-sign"
    attacked = delta.flatten(1).abs().max(1).values.cpu().numpy() > 0
    return Robustness(perturbed=(x + delta).detach(), attacked=attacked,
                      linf=delta.flatten(1).abs().max(1).values.cpu().numpy(),
                      label_kept=(_predict(classifier, x + delta, max_batch) == predicted).cpu().numpy(),
                      topk_overlap=topk_overlap(maps, after, k, seeds), rank_correlation=rank_correlation(maps, after),
                      maps_before=maps, maps_after=after, attack=kind)


def sensitivity_max(explain: Explain, images: torch.Tensor, target: torch.Tensor, radius: float = 0.02,
                    samples: int = 8, seed: int = 0, max_batch: Optional[int] = None) -> np.ndarray:
    """captum's ``sensitivity_max`` of the score maps (uniform noise of half-width ``radius`` in [-1, 1] units,
    ``samples`` draws per image): the largest ||map(x') - map(x)|| / ||map(x)||.

    Images go to captum in chunks of at most ``max_batch`` (captum then explains at most ``max_batch`` perturbed
    images at once); each chunk's noise comes from torch seeded ``seed + its first image's index``, so results
    are reproducible for a given ``max_batch``.
    """
    from captum.metrics import sensitivity_max as captum_sensitivity_max

    def explanation(inputs, target):
        inputs = inputs[0] if isinstance(inputs, tuple) else inputs
        with torch.enable_grad():
            return (explain(inputs.detach(), target).detach(),)  # captum iterates over a tuple of maps

    n = images.shape[0]
    target = torch.as_tensor(target, device=images.device).reshape(-1).expand(n)
    step = max_batch or n

    def per_pass(size: int) -> int:  # noise draws per image in one pass, within the bounds captum accepts
        return min(max(step // size, 1), samples)

    out = []
    for start in range(0, n, step):
        chunk = images[start:start + step].detach()
        with seeded(seed + start, images.device):
            value = captum_sensitivity_max(explanation, chunk, perturb_radius=radius, n_perturb_samples=samples,
                                           max_examples_per_batch=len(chunk) * per_pass(len(chunk)),
                                           target=target[start:start + step])
        out.append(value.detach().cpu())
    return torch.cat(out).numpy()
