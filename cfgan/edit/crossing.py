"""What the classifier says along an edit: probabilities per frame and the strength where its decision crosses.

With a target class (class gradients and boundaries have one) an image crosses at the smallest positive
strength where it is classified as the target; without one, where it stops being classified as its start
class. Between the last grid strength before the crossing and the first one after it, the crossing is
refined by bisection (``refine`` rounds, each one render per unresolved image), so the reported strength is
within ``gap / 2**refine`` of a point where the decision changes. The negative side reports the first
strength (going down from 0) where the start class is lost.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional

import torch

from .apply import Edit


@dataclass
class EditReport:
    images: torch.Tensor  # [N, S, C, H, W] float CPU in [-1, 1]
    probs: torch.Tensor  # [N, S, K]
    start_images: torch.Tensor  # [N, C, H, W]
    start_probs: torch.Tensor  # [N, K]
    target: Optional[int]
    crossing: List[Optional[float]]
    crossed_to: List[Optional[int]]
    crossing_negative: List[Optional[float]]
    crossed_to_negative: List[Optional[int]]

    def select(self, index: List[int]) -> "EditReport":
        """The report of some images (in ``index`` order)."""
        return EditReport(self.images[index], self.probs[index], self.start_images[index], self.start_probs[index],
                          self.target, [self.crossing[i] for i in index], [self.crossed_to[i] for i in index],
                          [self.crossing_negative[i] for i in index], [self.crossed_to_negative[i] for i in index])

    @property
    def predicted(self) -> torch.Tensor:
        return self.probs.argmax(-1)

    @property
    def start_predicted(self) -> torch.Tensor:
        return self.start_probs.argmax(-1)

    @property
    def already_target(self) -> torch.Tensor:
        if self.target is None:
            return torch.zeros(len(self.crossing), dtype=torch.bool)
        return self.start_predicted == self.target

    def reached(self) -> torch.Tensor:
        """bool [N, S]: frame classified as the target (or, without one, as another class than the start)."""
        if self.target is not None:
            return self.predicted == self.target
        return self.predicted != self.start_predicted[:, None]

    def tracked_probs(self) -> torch.Tensor:
        """[N, S] p(target), or p(start class) without a target: what a video's bar shows."""
        if self.target is not None:
            return self.probs[..., self.target]
        return self.probs.gather(2, self.start_predicted[:, None, None].expand(-1, self.probs.shape[1], 1))[..., 0]


@torch.no_grad()
def classify(G, classifier, codes, batch: int = 64):
    """(images [n, C, H, W] CPU, probs [n, K] CPU) of a LatentCode, in batches."""
    images, probs = [], []
    for s in range(0, len(codes), batch):
        part = codes.select(list(range(s, min(s + batch, len(codes)))))
        img = part.render(G).float().clamp(-1, 1)
        probs.append(classifier.probs(img).float().cpu())
        images.append(img.cpu())
    return torch.cat(images), torch.cat(probs)


@torch.no_grad()
def evaluate_edit(G, classifier, edit: Edit, target=None, refine: int = 6, batch: int = 64,
                  progress: Optional[Callable[[int, int, dict], None]] = None) -> EditReport:
    """Render and classify every frame and the start codes; find each image's crossing strengths."""
    if target is None and edit.direction.target is not None:
        target = edit.direction.target
    t = None if target is None else classifier.class_index(target)
    n, s = len(edit), edit.num_strengths
    start_images, start_probs = classify(G, classifier, edit.start, batch)
    images, probs = classify(G, classifier, edit.code, batch)
    images = images.reshape(n, s, *images.shape[1:])
    probs = probs.reshape(n, s, -1)
    start_pred = start_probs.argmax(1)
    strengths = torch.tensor(edit.strengths)

    def condition(pred: torch.Tensor, idx: torch.Tensor, side: int) -> torch.Tensor:
        if t is not None and side > 0:
            return pred == t
        return pred != start_pred[idx]

    results = {}
    for side in (1, -1):
        order = [j for j in sorted(range(s), key=lambda j: side * edit.strengths[j]) if side * edit.strengths[j] > 0]
        lo = torch.zeros(n)  # last strength known not to satisfy the condition (0 = the start)
        hi = torch.full((n,), float("nan"))
        found = torch.zeros(n, dtype=torch.bool)
        skip = (start_pred == t) if (t is not None and side > 0) else torch.zeros(n, dtype=torch.bool)
        for j in order:
            hit = condition(probs[:, j].argmax(1), torch.arange(n), side) & ~found & ~skip
            hi[hit] = strengths[j]
            found |= hit
            lo[~found] = strengths[j]
        idx = found.nonzero().flatten()
        for _ in range(refine if len(idx) else 0):
            mid = (lo[idx] + hi[idx]) / 2
            _, p = classify(G, classifier, edit.at(mid.tolist(), idx.tolist()), batch)
            ok = condition(p.argmax(1), idx, side)
            hi[idx[ok]] = mid[ok]
            lo[idx[~ok]] = mid[~ok]
        crossing: List[Optional[float]] = [None] * n
        crossed_to: List[Optional[int]] = [None] * n
        if len(idx):
            _, p_end = classify(G, classifier, edit.at(hi[idx].tolist(), idx.tolist()), batch)
            for k, i in enumerate(idx.tolist()):
                crossing[i] = float(hi[i])
                crossed_to[i] = int(p_end[k].argmax())
        results[side] = (crossing, crossed_to)
        if progress is not None:
            progress(2 if side < 0 else 1, 2, {})
    return EditReport(images, probs, start_images, start_probs, t, results[1][0], results[1][1],
                      results[-1][0], results[-1][1])
