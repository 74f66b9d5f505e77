"""Maximal invariant perturbation as a linear program (Hara, Ikeno, Soma & Maehara 2018), the baseline the
stochastic MIP improves on.

Linearise the class margins at x: for every class j != c, with margin m_j = f_c(x) - f_j(x) and gradient
g_j = grad_x (f_j - f_c)(x), the perturbation x + t * w (t in [-1, 1]^d) changes f_j - f_c by at most
|g_j| . w in the worst case. The LP

    maximise  sum_i w_i   subject to   |g_j| . w <= max(0, margin_fraction * m_j - delta)  (all j != c),
                                       0 <= w_i <= max_w

lets the worst-case perturbation use at most ``margin_fraction`` (lambda = 0.5, as in the paper's
experiments) of each class margin, less a safety gap ``delta`` = 0.1 logits for the linearisation error; a
class already ahead of c (or within delta / lambda of it) allows only pixels it has no gradient in. Solved by
scipy's HiGHS. The map is -w. ``extras``: ``lhs`` and ``rhs`` [N, K - 1] of the constraints at the solution.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linprog

from .base import SaliencyMethod
from .masks import number


def margin_gradients(classifier, x: torch.Tensor, target: int):
    """(margins [K - 1], gradients [K - 1, d]) of f_c - f_j and f_j - f_c at one image x [1, C, H, W]."""
    with torch.enable_grad():
        probe = x.detach().clone().requires_grad_(True)
        logits = classifier(probe)[0]
        k = logits.shape[0]
        others = [j for j in range(k) if j != target]
        rows = []
        for j in others:
            (grad,) = torch.autograd.grad(logits[j] - logits[target], probe, retain_graph=j != others[-1])
            rows.append(grad.flatten())
    margins = (logits[target] - logits[others]).detach()
    return margins, torch.stack(rows)


class MIPLP(SaliencyMethod):
    name = "mip-lp"

    def _attribute(self, x, target, options):
        delta = number(options, "delta")
        fraction = number(options, "margin_fraction", strict=True)
        max_w = number(options, "max_w", strict=True)
        out, lhs, rhs = [], [], []
        for i in range(len(x)):
            margins, grads = margin_gradients(self.classifier, x[i:i + 1], int(target[i]))
            a = grads.abs().double().cpu().numpy()
            b = np.maximum(0.0, fraction * margins.double().cpu().numpy() - delta)
            scale = max(float(a.max()), 1e-12)  # a well-scaled LP: constraint rows of order one
            res = linprog(-np.ones(a.shape[1]), A_ub=a / scale, b_ub=b / scale, bounds=(0.0, max_w),
                          method="highs")
            if res.status != 0:
                raise RuntimeError(f"mip-lp: the linear program for image {i} failed: {res.message}")
            w = np.clip(res.x, 0.0, max_w)
            out.append(torch.from_numpy(w).float().reshape(x.shape[1:]))
            lhs.append(torch.from_numpy(a @ w))
            rhs.append(torch.from_numpy(b))
        self.extras = {"lhs": torch.stack(lhs).float(), "rhs": torch.stack(rhs).float()}
        return torch.stack(out).to(x.device)
