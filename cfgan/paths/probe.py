"""Counted access to the generator and the classifier, and the class scores every path method reads.

A path's cost is what it asks of the two networks: generator evaluations (images rendered) and classifier
queries (images classified; the budget of black-box paths). Every render and every classification of a path
method goes through a ``Probe``, which charges it to the path each batch item belongs to.
"""
from __future__ import annotations

from typing import Optional

import torch

from inversion import LatentCode

OWNERS = "owners"  # key in LatentCode.meta: path index of each batch item (LongTensor [n])


def target_log_odds(logits: torch.Tensor, target: int) -> torch.Tensor:
    """log(p_C / (1 - p_C)) per row, computed stably from class logits [n, K].

    Paths optimise the log-odds rather than p_C itself: p_C's gradient vanishes far from the boundary
    (p_C ~ 1e-4 for a confidently classified start), the log-odds' gradient does not.
    """
    others = logits.clone()
    others[:, target] = float("-inf")
    return logits[:, target] - torch.logsumexp(others, dim=1)


def log_odds_of(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(1e-6, 1 - 1e-6)
    return torch.log(p) - torch.log1p(-p)


def owners_of(code: LatentCode) -> torch.Tensor:
    owners = code.meta.get(OWNERS)
    if owners is None:
        raise ValueError("internal: a path code has no owners (path index per item) in its meta")
    return owners


def with_owners(code: LatentCode, owners: torch.Tensor) -> LatentCode:
    meta = dict(code.meta)
    meta[OWNERS] = owners.detach().cpu().long()
    return LatentCode(code.space, code.values, code.noise, code.c, code.truncation_psi, meta)


class Probe:
    """Renders and classifies for ``n_paths`` paths and counts both per path.

    ``target``/``source`` are class indices. Classifier queries are counted per image classified;
    generator evaluations per image rendered (with or without a backward pass).
    """

    def __init__(self, G, classifier, target: int, source: Optional[int], n_paths: int):
        self.G, self.classifier = G, classifier
        self.target, self.source = int(target), None if source is None else int(source)
        self.gen_evals = torch.zeros(n_paths, dtype=torch.long)
        self.queries = torch.zeros(n_paths, dtype=torch.long)

    def _charge(self, counter: torch.Tensor, owners: torch.Tensor) -> None:
        counter += torch.bincount(owners, minlength=counter.numel())[: counter.numel()]

    def render(self, code: LatentCode) -> torch.Tensor:
        self._charge(self.gen_evals, owners_of(code))
        return code.render(self.G)

    def logits(self, images: torch.Tensor, owners: torch.Tensor) -> torch.Tensor:
        self._charge(self.queries, owners)
        return self.classifier(images)

    @torch.no_grad()
    def evaluate(self, code: LatentCode, chunk: int = 256):
        """(images, logits) for a code batch, rendered and classified without gradients, in chunks."""
        owners = owners_of(code)
        images, logits = [], []
        for s in range(0, len(code), chunk):
            idx = list(range(s, min(s + chunk, len(code))))
            part = with_owners(code.select(idx), owners[idx])
            img = self.render(part)
            images.append(img)
            logits.append(self.logits(img, owners[idx]))
        return torch.cat(images), torch.cat(logits)

    def target_prob(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.softmax(1)[:, self.target]

    def past(self, logits: torch.Tensor, end_prob: float) -> torch.Tensor:
        """Items that crossed and went ``end_prob`` past it: predicted C with p_C >= end_prob."""
        return (logits.argmax(1) == self.target) & (self.target_prob(logits) >= end_prob)
