"""Stochastic maximal invariant perturbation (Ikeno & Hara, "Maximizing invariant data perturbation with
stochastic optimization"): a pixel is important when only a small perturbation of it leaves the decision
alone. Per image, find amplitudes w in [0, C]^d, as large as possible, such that random perturbations
x + t * w, t ~ U[-1, 1]^d, keep class c:

    maximise  mean_i w_i - penalty * sum_{j != c} mean_m max(0, f_j(x + t_m * w) - f_c(x + t_m * w))

(the paper's sum_i w_i - lambda * ... divided by d, so ``penalty`` = lambda / d; its default lambda = 0.1 d
gives ``penalty`` = 0.1), f the logits, M = ``samples`` = 32 fresh t per step, Adam with step 0.01, w clipped
to [0, ``max_w``] after every step (``max_w`` = 2, the width of cfgan's pixel range). The paper's code runs
500 steps; the default here is 200 (w climbs at most lr per step, so 200 steps just reach max_w = 2). Perturbed
images are not clipped to [-1, 1], as in the paper. The map is -w (``pixel_scores``).

After the optimisation ``extras['keep_rate']`` [N] is the fraction of ``rate_samples`` fresh perturbations
(their own seeded stream) the classifier still assigns to c: how invariant the returned w really is.
"""
from __future__ import annotations

import torch

from inversion.optimize import LRSchedule, MemoryBound, optimize

from .base import SaliencyMethod
from .masks import SampledItems, count, number

RATE_SAMPLES = 256


def margin_violation(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """sum_{j != c} max(0, f_j - f_c) per row [n]."""
    own = logits.gather(1, target[:, None])
    gaps = (logits - own).clamp_min(0)
    return gaps.sum(1)  # the j = c term is 0


def keep_rate(classifier, x: torch.Tensor, w: torch.Tensor, target: torch.Tensor, samples: int, seed: int,
              max_batch=None) -> torch.Tensor:
    """Fraction [N] of perturbations x + t * w, t ~ U[-1, 1] (``samples`` per image, image i drawing from
    stream ``seed + i``), that the classifier assigns to ``target``."""
    rates = []
    per_pass = samples if max_batch is None else max(1, max_batch)
    for i in range(len(x)):
        g = torch.Generator().manual_seed(int(seed) + i)
        t = (torch.rand((samples, *x.shape[1:]), generator=g) * 2 - 1).to(x.device)
        kept = 0
        with torch.no_grad():
            for s in range(0, samples, per_pass):
                batch = x[i:i + 1] + t[s:s + per_pass] * w[i:i + 1]
                kept += int((classifier(batch).argmax(1) == target[i]).sum())
        rates.append(kept / samples)
    return torch.tensor(rates)


class MIP(SaliencyMethod):
    name = "mip"

    def _attribute(self, x, target, options):
        steps, samples = count(options, "steps"), count(options, "samples")
        lr = number(options, "lr", strict=True)
        penalty = number(options, "penalty", default=0.1)
        max_w = number(options, "max_w", strict=True)
        n = len(x)
        w = torch.zeros_like(x, requires_grad=True)
        items = SampledItems(n, samples, [self.seed] * n)

        def step_objective(step, t, chosen=None):
            image, sample = items.split(chosen)
            image_d = image.to(x.device)
            noise = (items.draw(step, "t", x.shape[1:])[image, sample] * 2 - 1).to(x.device)
            logits = self.classifier(x[image_d] + noise * w[image_d])
            violation = margin_violation(logits, target[image_d])
            loss = (-w[image_d].flatten(1).mean(1) + penalty * violation) / samples
            return loss, {"violation": violation.detach(), "kept": (logits.argmax(1) == target[image_d]).float()}

        def clip():
            w.clamp_(0, max_w)

        memory = None if self.max_batch is None else MemoryBound(max_items=self.max_batch)
        optimize([w], step_objective, steps, LRSchedule(lr, 0.0, 0.0), batched=False, project=clip, memory=memory,
                 num_items=items.total if memory is not None else None)
        w = w.detach()
        self.extras = {"keep_rate": keep_rate(self.classifier, x, w, target, RATE_SAMPLES, self.seed + 1,
                                              self.max_batch),
                       "rate_samples": RATE_SAMPLES, "mean_w": w.flatten(1).mean(1).cpu()}
        return w
