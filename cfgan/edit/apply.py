"""Apply a direction to latent codes: a list of strengths, a layer range, directions kept fixed.

``edit_codes`` turns N codes into N x S edited W+ codes (image-major: all strengths of image 0 first).
The shift of image i is ``s * sigma_i * u_i``: ``u_i`` is the direction restricted to the edited rows,
projected orthogonal to the kept directions and renormalised (unit norm over the W+ vector), and
``sigma_i`` is its strength unit, standard deviations of the generator's W codes (``direction_sigma``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Union

import torch

from inversion import LatentCode, latent_stats

from .conditional import project_out
from .direction import Direction
from .layers import parse_layers
from .samples import check_has_w
from .strengths import UNIT, parse_strengths


@dataclass
class Edit:
    """Edited codes and how they were made."""

    start: LatentCode  # N start codes in W+ (noise maps and class vectors kept)
    code: LatentCode  # N * S edited codes in W+, image-major
    strengths: List[float]
    sigma: torch.Tensor  # [N] strength unit of each image's shift vector (direction_sigma)
    vectors: torch.Tensor  # [N, num_ws, w_dim] unit shift vectors (restricted, projected)
    rows: List[int]
    direction: Direction
    keep: List[Direction] = field(default_factory=list)
    kept_fraction: Optional[torch.Tensor] = None  # [N] norm left after projection (1 = untouched)

    def __len__(self) -> int:
        return len(self.start)

    @property
    def num_strengths(self) -> int:
        return len(self.strengths)

    def frames(self, i: int) -> LatentCode:
        """The S edited codes of image ``i``."""
        s = self.num_strengths
        return self.code.select(list(range(i * s, (i + 1) * s)))

    def at(self, strengths: Sequence[float], index: Sequence[int]) -> LatentCode:
        """Codes of images ``index`` moved by ``strengths`` (one each): used to refine crossings."""
        index = list(index)
        base = self.start.select(index)
        shift = torch.as_tensor(list(strengths), dtype=base.values.dtype, device=base.values.device)
        scale = (shift * self.sigma[index].to(shift.device))[:, None, None]
        values = base.values + scale * self.vectors[index].to(base.values.device, base.values.dtype)
        return LatentCode("w+", values, base.noise, base.c, 1.0, dict(base.meta))

    def settings(self) -> dict:
        return {"direction": self.direction.describe(), "strengths": self.strengths, "strength_unit": UNIT,
                "layers": self.rows, "keep": [k.describe() for k in self.keep],
                "sigma": self.sigma.tolist(),
                "kept_fraction": None if self.kept_fraction is None else self.kept_fraction.tolist()}


def shift_vectors(G, direction: Direction, n: int, rows: Sequence[int], keep: Sequence[Direction] = ()):
    """(unit shifts [n, num_ws, w_dim], sigma [n], norm left after projection [n]) for ``n`` codes."""
    direction.check_for(G)
    for k in keep:
        k.check_for(G)
    num_ws = G.num_ws
    mask = torch.zeros(num_ws, dtype=torch.bool)
    mask[list(rows)] = True
    v = direction.as_wplus(num_ws, n) * mask[None, :, None]
    before = v.flatten(1).norm(dim=1)
    if bool((before <= 1e-12).any()):
        raise ValueError(f"direction {direction.name!r} is zero on layers {list(rows)}: nothing to edit there")
    v = project_out(v, list(keep), rows)
    after = v.flatten(1).norm(dim=1)
    left = after / before
    if bool((left < 1e-4).any()):
        names = ", ".join(k.name for k in keep)
        raise ValueError(f"direction {direction.name!r} lies (almost) entirely within the kept directions "
                         f"({names}) on layers {list(rows)}: nothing is left to edit")
    u = v / after[:, None, None]
    return u, direction_sigma(G, u, rows), left


def direction_sigma(G, u: torch.Tensor, rows: Optional[Sequence[int]] = None) -> torch.Tensor:
    """The strength unit of unit W+ shifts ``u`` [n, L, D] on ``rows`` (default: the rows ``u`` moves).

    sigma = sqrt(k * sum_l Var_w(<w, u_l>)) over the k edited rows, with w the generator's mapped W codes: the
    shift ``sigma * u`` moves the edited rows by one standard deviation of W, RMS over the rows, each along its
    own shift. For a W direction v (every edited row shifted along v) this is exactly the std of W along v,
    whatever the rows; rows that pull in opposite directions do not cancel out. The covariance of W is
    ``inversion.latent_stats``' (the one measure of the spread of a generator's codes).
    """
    cov = latent_stats(G, "w").covariance.cpu()
    u = u.double().cpu()
    k = len(rows) if rows is not None else int((u.flatten(0, 1).norm(dim=1) > 0).reshape(u.shape[:2]).sum(1).max())
    var = torch.einsum("nld,de,nle->n", u, cov, u)
    if bool((var <= 1e-16 * torch.trace(cov)).any()):
        raise ValueError("the edit vector is orthogonal to everything the generator's W codes vary in: "
                         "strengths in sigma units are undefined for it")
    return (k * var).sqrt().float()


def edit_codes(G, code: LatentCode, direction: Direction, strengths: Union[str, Sequence[float]],
               layers: Union[None, str, Sequence[int]] = None, keep: Sequence[Direction] = ()) -> Edit:
    """Move every code along ``direction`` by each strength (in sigma units) on the W+ rows ``layers``."""
    check_has_w(G)
    strengths = parse_strengths(strengths)
    rows = parse_layers(layers, G)
    if isinstance(keep, Direction):
        keep = [keep]
    if code.space == "w+" and code.values.shape[1] != G.num_ws:
        raise ValueError(f"the codes have {code.values.shape[1]} W+ rows, the generator has num_ws={G.num_ws}")
    n = len(code)
    start = code.to_space(G, "w+") if code.space != "w+" else code.detach()
    start = LatentCode("w+", start.values.detach(), start.noise, start.c, 1.0, dict(code.meta))
    u, sigma, left = shift_vectors(G, direction, n, rows, keep)
    device, dtype = start.values.device, start.values.dtype
    s = torch.tensor(strengths, dtype=dtype, device=device)
    shifts = s[None, :, None, None] * (sigma.to(device, dtype)[:, None, None, None] *
                                       u.to(device, dtype)[:, None])  # [N, S, L, D]
    values = (start.values[:, None] + shifts).reshape(n * len(strengths), *start.values.shape[1:])
    expanded = start.select([i for i in range(n) for _ in strengths])
    edited = LatentCode("w+", values, expanded.noise, expanded.c, 1.0, dict(code.meta))
    return Edit(start, edited, strengths, sigma, u, rows, direction, list(keep), left)
