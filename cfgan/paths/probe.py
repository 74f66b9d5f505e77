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


def target_log_odds(logits: torch.Tensor, target) -> torch.Tensor:
    """log(p_C / (1 - p_C)) per row, computed stably from class logits [n, K]; ``target`` int or [n].

    Paths optimise the log-odds rather than p_C itself: p_C's gradient vanishes far from the boundary
    (p_C ~ 1e-4 for a confidently classified start), the log-odds' gradient does not.
    """
    index = torch.as_tensor(target, device=logits.device).long().reshape(-1, 1).expand(logits.shape[0], 1)
    others = logits.scatter(1, index, float("-inf"))
    return logits.gather(1, index)[:, 0] - torch.logsumexp(others, dim=1)


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
    """Renders and classifies for N paths and counts both per path.

    ``targets``/``sources``: class index per path ([N]; None for no source). Classifier queries are counted
    per image classified; generator evaluations per image rendered (with or without a backward pass).
    """

    def __init__(self, G, classifier, targets: torch.Tensor, sources: Optional[torch.Tensor] = None):
        self.G, self.classifier = G, classifier
        self.targets = torch.as_tensor(targets).long().reshape(-1).cpu()
        self.sources = None if sources is None else torch.as_tensor(sources).long().reshape(-1).cpu()
        n = self.targets.numel()
        self.gen_evals = torch.zeros(n, dtype=torch.long)
        self.queries = torch.zeros(n, dtype=torch.long)
        self.eval_chunk = 256  # images per no-gradient pass of ``evaluate`` (a memory bound lowers it)

    def _charge(self, counter: torch.Tensor, owners: torch.Tensor) -> None:
        counter += torch.bincount(owners, minlength=counter.numel())[: counter.numel()]

    def render(self, code: LatentCode) -> torch.Tensor:
        self._charge(self.gen_evals, owners_of(code))
        return code.render(self.G)

    def logits(self, images: torch.Tensor, owners: torch.Tensor) -> torch.Tensor:
        self._charge(self.queries, owners)
        return self.classifier(images)

    @torch.no_grad()
    def evaluate(self, code: LatentCode, chunk: Optional[int] = None):
        """(images, logits) for a code batch, rendered and classified without gradients, in chunks of
        ``chunk`` images (default ``eval_chunk``)."""
        chunk = chunk or self.eval_chunk
        owners = owners_of(code)
        images, logits = [], []
        for s in range(0, len(code), chunk):
            idx = list(range(s, min(s + chunk, len(code))))
            part = with_owners(code.select(idx), owners[idx])
            img = self.render(part)
            images.append(img)
            logits.append(self.logits(img, owners[idx]))
        return torch.cat(images), torch.cat(logits)

    def _target(self, owners: torch.Tensor, device) -> torch.Tensor:
        return self.targets[owners].to(device)

    def log_odds(self, logits: torch.Tensor, owners: torch.Tensor) -> torch.Tensor:
        return target_log_odds(logits, self._target(owners, logits.device))

    def target_prob(self, logits: torch.Tensor, owners: torch.Tensor) -> torch.Tensor:
        return logits.softmax(1).gather(1, self._target(owners, logits.device).reshape(-1, 1))[:, 0]

    def is_target(self, logits: torch.Tensor, owners: torch.Tensor) -> torch.Tensor:
        return logits.argmax(1) == self._target(owners, logits.device)

    def past(self, logits: torch.Tensor, owners: torch.Tensor, end_prob: float) -> torch.Tensor:
        """Items that crossed and went ``end_prob`` past it: predicted C with p_C >= end_prob."""
        return self.is_target(logits, owners) & (self.target_prob(logits, owners) >= end_prob)
