"""FIDO (Chang, Creager, Goldenberg & Duvenaud, ICLR 2019): which pixels must stay, or go, for the decision,
when dropped pixels are in-filled by a generative model rather than greyed out.

A Bernoulli dropout mask over a grid of cells (per pixel with ``grid`` = image side), learned through a
concrete relaxation at ``temperature``; the grid is upsampled to the image. With ``keep`` the kept pixels,
the image seen by the classifier is ``keep * x + (1 - keep) * infill``, and its class score is the log-odds
s = log p(c) - log(1 - p(c)). Objectives (per image, Monte Carlo over ``samples`` masks and in-fills):

- ``ssr`` smallest sufficient region: the mask holds keep probabilities; minimise
  -s + sparsity * mean(keep prob) + tv * TV(keep prob).
- ``sdr`` smallest destroying region: the mask holds drop probabilities; minimise
  s + sparsity * mean(drop prob) + tv * TV(drop prob).

The attribution is the learned probability (keep for SSR, drop for SDR), so higher = more important
either way. ``extras``: ``area`` (mean probability: the expected fraction kept / dropped) and ``prob``
(p(c) of the in-filled images at the end, averaged over the samples).
"""
from __future__ import annotations

import torch

from inversion.losses import total_variation
from inversion.optimize import LRSchedule, MemoryBound, optimize

from .base import SaliencyMethod
from .infill import make_infiller
from .masks import SampledItems, concrete, count, grid_size, number, upsample

#: default weights per objective, in log-odds per unit of mask area / total variation
SPARSITY = {"ssr": 10.0, "sdr": 10.0}
TV = {"ssr": 2.0, "sdr": 2.0}


def log_odds(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log p(c) - log(1 - p(c)) from logits [n, K], stable: logit_c - logsumexp of the other logits."""
    own = logits.gather(1, target[:, None]).squeeze(1)
    others = logits.scatter(1, target[:, None], float("-inf")).logsumexp(1)
    return own - others


class FIDO(SaliencyMethod):
    name = "fido"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._banks: dict = {}  # the GAN's prior bank, rendered once per method object and reused

    def _attribute(self, x, target, options):
        objective = options["objective"]
        steps, samples = count(options, "steps"), count(options, "samples")
        lr = number(options, "lr", strict=True)
        sparsity = number(options, "sparsity", default=SPARSITY[objective])
        tv = number(options, "tv", default=TV[objective])
        temperature = number(options, "temperature", strict=True)
        n, c, height, width = x.shape
        gh, gw = grid_size(options, height, width)
        infiller = make_infiller(options["infill"], self.generator, seed=self.seed, max_batch=self.max_batch,
                                 cache=self._banks, bank=count(options, "bank"),
                                 neighbours=count(options, "neighbours"), bank_source=options["bank_source"],
                                 blend=options["blend"], latents=options["latents"],
                                 project_steps=count(options, "project_steps"))
        infiller.prepare(x)
        logits = torch.zeros(n, 1, gh, gw, device=x.device, requires_grad=True)
        items = SampledItems(n, samples, [self.seed] * n)
        sign = -1.0 if objective == "ssr" else 1.0

        def step_objective(step, t, chosen=None):
            image, sample = items.split(chosen)
            image_d = image.to(x.device)
            theta = logits[image_d]
            u = items.draw(step, "mask", (1, gh, gw))[image, sample].to(x.device)
            z = upsample(concrete(theta, u, temperature), height, width)
            keep = z if objective == "ssr" else 1 - z
            noise = items.draw(step, "infill", (c, height, width))[image, sample]
            fill = infiller.fill(image, keep.detach(), noise).to(x.device)
            seen = keep * x[image_d] + (1 - keep) * fill
            out = self.classifier(seen)
            score = log_odds(out, target[image_d])
            prob = torch.sigmoid(theta)
            area = prob.flatten(1).mean(1)
            loss = (sign * score + sparsity * area + tv * total_variation(prob)) / samples
            p_target = out.softmax(1).gather(1, target[image_d, None]).squeeze(1)
            return loss, {"score": score.detach(), "area": area.detach(), "prob": p_target.detach()}

        memory = None if self.max_batch is None else MemoryBound(max_items=self.max_batch)
        result = optimize([logits], step_objective, steps, LRSchedule(lr, 0.0, 0.25), batched=False,
                          memory=memory, num_items=items.total if memory is not None else None)
        prob = torch.sigmoid(logits.detach())
        self.extras = {"area": prob.flatten(1).mean(1).cpu(),
                       "prob": (items.per_image(result.terms["prob"].cpu()) / samples),
                       "objective": objective, "infill": options["infill"]}
        return upsample(prob, height, width).expand(-1, c, -1, -1).contiguous()
