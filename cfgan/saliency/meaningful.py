"""Meaningful perturbation (Fong & Vedaldi, ICCV 2017): the smallest deletion that destroys the decision.

A mask m in [0, 1] (1 = keep) on a coarse grid, upsampled to the image; deleted pixels are replaced by a
perturbation Phi: ``blur`` (Gaussian, ``sigma`` px, default 1/10 of the image side), ``constant`` (the
image's mean colour) or ``noise`` (uniform over [-1, 1]). Each step the image is shifted by a random jitter
tau of up to ``jitter`` px (seeded), so the mask cannot exploit single-pixel artefacts. Per image:

    minimise  l1 * mean(1 - m) + tv * TV_beta(m) + score_c(Phi(x(. - tau), m))

with m clipped to [0, 1] after every step. The paper's score is the class probability p_c, whose gradient
p_c (1 - p_c) vanishes on a confident classifier (p_c > 0.999 on most Fashion-MNIST test images with the
bundled model: the mask never moves); the score here is -log(1 - p_c), monotone in p_c and equal to it to
first order once the class is destroyed, whose gradient in the logit stays p_c. beta = 3 as in the paper;
l1 and tv are weights of means over the mask (the paper sums over its 28x28 mask), chosen on the bundled
model so that deletions stay small. The attribution is 1 - m (how much a pixel is deleted). ``extras``:
``area`` (mean deleted fraction) and ``prob`` (p(c) of the perturbed image at the end).
"""
from __future__ import annotations

import torch
from torch.nn.functional import softplus

from inversion.losses import total_variation
from inversion.optimize import LRSchedule, MemoryBound, optimize

from .base import SaliencyMethod
from .fido import log_odds
from .infill import make_infiller
from .masks import SampledItems, count, grid_size, number, upsample

PERTURBATIONS = {"blur": "blur", "constant": "mean", "noise": "noise"}


def shift(images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Each image [n, C, H, W] rolled by its own integer offsets (dy[i], dx[i])."""
    return torch.stack([torch.roll(img, (int(a), int(b)), dims=(1, 2)) for img, a, b in zip(images, dy, dx)])


class Meaningful(SaliencyMethod):
    name = "meaningful"

    def _attribute(self, x, target, options):
        steps, jitter = count(options, "steps"), count(options, "jitter", minimum=0)
        lr = number(options, "lr", strict=True)
        l1 = number(options, "l1", default=2.0)
        tv = number(options, "tv", default=0.5)
        beta = number(options, "beta", minimum=1.0)
        n, c, height, width = x.shape
        gh, gw = grid_size(options, height, width)
        sigma = number(options, "sigma", strict=True, default=max(1.0, min(height, width) / 10))
        phi = make_infiller(PERTURBATIONS[options["perturbation"]], sigma=sigma)
        phi.prepare(x)
        mask = torch.full((n, 1, gh, gw), 0.5, device=x.device, requires_grad=True)
        items = SampledItems(n, 1, [self.seed] * n)

        def step_objective(step, t, chosen=None):
            image, sample = items.split(chosen)
            image_d = image.to(x.device)
            m = upsample(mask[image_d], height, width)
            offsets = (items.draw(step, "jitter", (2,))[image, sample] * (2 * jitter + 1)).floor() - jitter
            if step >= steps:
                offsets = torch.zeros_like(offsets)  # the closing evaluation sees the image itself
            noise = items.draw(step, "noise", (c, height, width))[image, sample]
            base = phi.fill(image, m.detach(), noise).to(x.device)
            seen = shift(x[image_d], offsets[:, 0], offsets[:, 1]), shift(base, offsets[:, 0], offsets[:, 1])
            perturbed = m * seen[0] + (1 - m) * seen[1]
            logits = self.classifier(perturbed)
            p = logits.softmax(1).gather(1, target[image_d, None]).squeeze(1)
            deleted = (1 - mask[image_d]).flatten(1).mean(1)
            score = softplus(log_odds(logits, target[image_d]))  # -log(1 - p_c)
            loss = l1 * deleted + tv * total_variation(mask[image_d], beta) + score
            return loss, {"prob": p.detach(), "area": deleted.detach()}

        def clip():
            mask.clamp_(0, 1)

        memory = None if self.max_batch is None else MemoryBound(max_items=self.max_batch)
        result = optimize([mask], step_objective, steps, LRSchedule(lr, 0.0, 0.25), batched=False, project=clip,
                          memory=memory, num_items=n if memory is not None else None)
        deleted = 1 - mask.detach()
        self.extras = {"area": deleted.flatten(1).mean(1).cpu(), "prob": result.terms["prob"].cpu(),
                       "perturbation": options["perturbation"]}
        return upsample(deleted, height, width).expand(-1, c, -1, -1).contiguous()
