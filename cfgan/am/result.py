"""The result both kinds of activation maximisation return: images, scores and what they reached."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch

from inversion import LatentCode

from .objectives import ClassTarget, Target


@dataclass
class AMResult:
    """Targets x restarts maximising images, laid out target-major (item i is for ``targets[assignment[i]]``).

    ``score`` is what was maximised for each item (a class's log-probability/logit/probability, or a
    unit's activation) at the end, ``initial_score`` the same at the start; ``probs`` are the class
    probabilities of the final images. ``code`` holds the latent codes that render ``images`` (generator
    AM only; truncation already applied, so ``code.render(G)`` reproduces them).
    """

    method: str
    targets: List[Target]
    assignment: torch.Tensor
    images: torch.Tensor
    score: torch.Tensor
    initial_score: torch.Tensor
    probs: torch.Tensor
    code: Optional[LatentCode] = None
    settings: dict = field(default_factory=dict)
    history: List[dict] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.assignment)

    @property
    def restart(self) -> torch.Tensor:
        """Restart number of each item within its target."""
        out = torch.zeros_like(self.assignment)
        for t in range(len(self.targets)):
            rows = (self.assignment == t).nonzero().flatten()
            out[rows] = torch.arange(len(rows))
        return out

    @property
    def target_prob(self) -> torch.Tensor:
        """Probability of the target class per item [N] (NaN for layer-unit targets)."""
        out = torch.full((len(self),), float("nan"))
        for t, target in enumerate(self.targets):
            if isinstance(target, ClassTarget):
                rows = self.assignment == t
                out[rows] = self.probs[rows, target.index]
        return out

    def rows(self, target_index: int) -> torch.Tensor:
        return (self.assignment == target_index).nonzero().flatten()

    def images_for(self, target_index: int) -> torch.Tensor:
        return self.images[self.rows(target_index)]

    def summary(self) -> Dict[str, dict]:
        """Per target: mean/min reached probability (classes), mean score before and after."""
        out: Dict[str, dict] = {}
        prob = self.target_prob
        for t, target in enumerate(self.targets):
            rows = self.rows(t)
            entry = {"restarts": len(rows), "score_initial_mean": _mean(self.initial_score[rows]),
                     "score_mean": _mean(self.score[rows])}
            if isinstance(target, ClassTarget):
                entry.update(class_index=target.index, prob_mean=_mean(prob[rows]), prob_min=_min(prob[rows]),
                             top1_rate=_mean((self.probs[rows].argmax(1) == target.index).float()))
            else:
                entry.update(layer=target.layer, unit=target.index,
                             predicted=[int(k) for k in self.probs[rows].argmax(1)])
            out[target.label] = entry
        return out

    def per_image(self) -> List[dict]:
        prob, restart = self.target_prob, self.restart
        rows = []
        for i in range(len(self)):
            target = self.targets[int(self.assignment[i])]
            row = {"index": i, "target": target.label, "restart": int(restart[i]),
                   "score_initial": float(self.initial_score[i]), "score": float(self.score[i]),
                   "predicted": int(self.probs[i].argmax())}
            if isinstance(target, ClassTarget):
                row["prob"] = float(prob[i])
            rows.append(row)
        return rows


def _mean(x: torch.Tensor) -> Optional[float]:
    if x.numel() == 0:
        return None
    value = float(x.float().mean())
    return None if math.isnan(value) else value


def _min(x: torch.Tensor) -> Optional[float]:
    return None if x.numel() == 0 else float(x.float().min())
