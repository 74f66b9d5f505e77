"""Conditional manipulation: project an edit orthogonal to directions whose attributes must stay fixed.

InterFaceGAN edits attribute A while keeping attribute B by removing the normal of B from the normal of
A (n_A - (n_A . n_B) n_B); for several kept attributes the kept vectors are first made orthonormal
(Gram-Schmidt) and all of them are removed. Here the shift is a W+ vector restricted to the edited rows:

- a kept W direction k is kept on every edited row (each row's coordinate along k stays fixed), so it
  contributes one basis vector per edited row;
- a kept W+ direction (or a per-image gradient) is kept as one vector over the edited rows, so the
  first-order change of what it measures (e.g. a class's log-odds) is zero.
"""
from __future__ import annotations

from typing import List, Sequence

import torch

from .direction import Direction


def kept_basis(keep: Sequence[Direction], rows: Sequence[int], num_ws: int, n: int) -> List[torch.Tensor]:
    """The vectors [n, num_ws * w_dim] an edit on ``rows`` must stay orthogonal to (before Gram-Schmidt)."""
    mask = torch.zeros(num_ws, dtype=torch.bool)
    mask[list(rows)] = True
    basis = []
    for k in keep:
        v = k.as_wplus(num_ws, n).double() * mask[None, :, None]
        if k.space == "w":
            for r in rows:
                row = torch.zeros_like(v)
                row[:, r] = v[:, r]
                basis.append(row.flatten(1))
        else:
            basis.append(v.flatten(1))
    return basis


def orthonormalize(basis: Sequence[torch.Tensor], rtol: float = 1e-6) -> List[torch.Tensor]:
    """Gram-Schmidt (twice, for accuracy) per batch row; vectors dependent on earlier ones become zero."""
    out: List[torch.Tensor] = []
    for b in basis:
        v = b.clone()
        for _ in range(2):
            for q in out:
                v = v - (v * q).sum(1, keepdim=True) * q
        norm = v.norm(dim=1, keepdim=True)
        ok = norm > rtol * b.norm(dim=1, keepdim=True).clamp_min(1e-300)
        out.append(torch.where(ok, v / norm.clamp_min(1e-300), torch.zeros_like(v)))
    return out


def project_out(shift: torch.Tensor, keep: Sequence[Direction], rows: Sequence[int]) -> torch.Tensor:
    """``shift`` [n, num_ws, w_dim] with the kept directions' components on ``rows`` removed (float64 math)."""
    if not keep:
        return shift
    n, num_ws, w_dim = shift.shape
    q = orthonormalize(kept_basis(keep, rows, num_ws, n))
    v = shift.double().flatten(1)
    for _ in range(2):
        for b in q:
            v = v - (v * b).sum(1, keepdim=True) * b
    return v.reshape(n, num_ws, w_dim).to(shift.dtype)
