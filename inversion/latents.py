"""Latent codes as optimisable parameters, in any of a generator's spaces.

Every method in cfgan (projection, decision-crossing paths, activation maximisation) optimises a
``LatentCode``: a batch of codes in Z, W or W+ plus, optionally, the synthesis noise maps. Keeping
the parametrisation here means each method only chooses a space and a sum of loss terms.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import List, Optional

import torch

from generators.base import SPACES, Generator


def check_space(G: Generator, space: str) -> str:
    space = space.lower()
    if space not in SPACES:
        raise ValueError(f"unknown latent space {space!r}: choose one of {', '.join(SPACES)}")
    if space not in G.spaces:
        raise ValueError(f"latent space {space!r} is not available for this generator "
                         f"({type(G).__name__} supports {', '.join(G.spaces)})")
    return space


def ws_to_space(ws: torch.Tensor, space: str) -> torch.Tensor:
    """Convert W+ codes [N, L, D] to the tensor a code in ``space`` holds (W takes the layer mean)."""
    if space == "w+":
        return ws
    if space == "w":
        return ws.mean(dim=1)
    raise ValueError("cannot convert W codes back to Z: the mapping network is not invertible")


@dataclass
class LatentCode:
    """A batch of codes in one space, plus optional per-image noise maps.

    ``values`` is [N, z_dim] (z), [N, w_dim] (w) or [N, num_ws, w_dim] (w+). ``noise`` is a list of
    [N, 1, H, W] tensors in the order of ``G.noise_shapes()``, or None to use the generator's own
    constant noise. ``c`` holds class-conditioning vectors for conditional generators.
    """

    space: str
    values: torch.Tensor
    noise: Optional[List[torch.Tensor]] = None
    c: Optional[torch.Tensor] = None
    truncation_psi: float = 1.0
    meta: dict = field(default_factory=dict)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_z(cls, G: Generator, z: torch.Tensor, space: str = "z", c=None, truncation_psi: float = 1.0):
        """A code for known z, expressed in ``space`` (z stays z; w/w+ go through the mapping)."""
        space = check_space(G, space)
        if space == "z":
            return cls("z", z.detach().clone(), c=c, truncation_psi=truncation_psi)
        with torch.no_grad():
            ws = G.mapping(z, c, truncation_psi=truncation_psi)
        return cls(space, ws_to_space(ws, space).detach().clone(), c=c)

    @classmethod
    def from_seeds(cls, G: Generator, seeds, space: str = "z", c=None, truncation_psi: float = 1.0):
        z = torch.cat([G.sample_z(1, int(s)) for s in seeds])
        return cls.from_z(G, z, space, c=c, truncation_psi=truncation_psi)

    @classmethod
    def mean(cls, G: Generator, n: int, space: str):
        """``n`` copies of the average code: the usual starting point of inversion (W/W+ only)."""
        space = check_space(G, space)
        if space == "z":
            return cls("z", torch.zeros(n, G.z_dim, device=G.device))
        w = G.w_avg.detach().to(G.device).reshape(1, -1)
        if space == "w":
            return cls("w", w.repeat(n, 1).clone())
        return cls("w+", w.reshape(1, 1, -1).repeat(n, G.num_ws, 1).clone())

    # -- use ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.values.shape[0]

    def ws(self, G: Generator) -> torch.Tensor:
        """W+ codes [N, num_ws, w_dim] this code stands for."""
        if self.space == "z":
            return G.mapping(self.values, self.c, truncation_psi=self.truncation_psi)
        if self.space == "w":
            return self.values.unsqueeze(1).repeat(1, G.num_ws, 1)
        return self.values

    def render(self, G: Generator, noise_mode: str = "const") -> torch.Tensor:
        """Images [N, C, H, W] in [-1, 1] for this code."""
        if "w" not in G.spaces:  # Z-only generators (plain modules)
            return G(self.values)
        return G.synthesis(self.ws(G), noise_mode=noise_mode, noise=self.noise)

    def with_noise(self, G: Generator, seed: Optional[int] = None) -> "LatentCode":
        """Attach per-image noise maps, initialised from the generator's constant noise or a seed."""
        shapes = G.noise_shapes()
        if not shapes:
            raise ValueError(f"{type(G).__name__} has no noise inputs to optimise")
        n, device = len(self), self.values.device
        if seed is None:
            const = [b for name, b in G.named_buffers() if name.endswith("noise_const")]
            if len(const) != len(shapes):
                raise ValueError("the generator exposes no constant noise maps; pass a seed instead")
            maps = [m.detach().to(device).reshape(1, 1, *m.shape[-2:]).repeat(n, 1, 1, 1) for m in const]
        else:
            g = torch.Generator().manual_seed(int(seed))
            maps = [torch.randn(n, 1, *s[-2:], generator=g).to(device) for s in shapes]
        return LatentCode(self.space, self.values, maps, self.c, self.truncation_psi, dict(self.meta))

    def parameters(self, noise: bool = True) -> List[torch.Tensor]:
        """The leaf tensors an optimiser should update (marked as requiring grad)."""
        params = [self.values]
        if noise and self.noise is not None:
            params += list(self.noise)
        for p in params:
            p.requires_grad_(True)
        return params

    def detach(self) -> "LatentCode":
        noise = None if self.noise is None else [m.detach().clone() for m in self.noise]
        return LatentCode(self.space, self.values.detach().clone(), noise, self.c,
                          self.truncation_psi, dict(self.meta))

    def select(self, index) -> "LatentCode":
        """A sub-batch (index: int, slice, list or bool mask)."""
        if isinstance(index, int):
            index = [index]
        noise = None if self.noise is None else [m[index] for m in self.noise]
        c = None if self.c is None else self.c[index]
        return LatentCode(self.space, self.values[index], noise, c, self.truncation_psi, dict(self.meta))

    def to_space(self, G: Generator, space: str) -> "LatentCode":
        """Re-express in another space (z -> w -> w+; never back to z)."""
        space = check_space(G, space)
        if space == self.space:
            return self.detach()
        if space == "z":
            raise ValueError(f"cannot move a {self.space} code to Z: the mapping network is not invertible")
        if self.space == "w+" and space == "w":
            raise ValueError("cannot move a W+ code to W without losing information; keep W+")
        with torch.no_grad():
            values = ws_to_space(self.ws(G), space)
        noise = None if self.noise is None else [m.detach().clone() for m in self.noise]
        return LatentCode(space, values.detach().clone(), noise, self.c, 1.0, dict(self.meta))

    @staticmethod
    def cat(codes: List["LatentCode"]) -> "LatentCode":
        first = codes[0]
        if any(c.space != first.space for c in codes):
            raise ValueError("cannot concatenate codes from different latent spaces")
        noise = None
        if all(c.noise is not None for c in codes):
            noise = [torch.cat(maps) for maps in zip(*[c.noise for c in codes])]
        c = None if first.c is None else torch.cat([k.c for k in codes])
        return LatentCode(first.space, torch.cat([k.values for k in codes]), noise, c,
                          first.truncation_psi, dict(first.meta))


# -- the spread of a generator's codes -------------------------------------------------------------
@dataclass(frozen=True)
class LatentStats:
    """How codes of one space are distributed, measured once on random samples.

    Step sizes (paths), the jitter added early in projection, the AM prior's scale and AM's clipping
    range all derive from these numbers, so every method agrees on what "a typical step" means. The
    covariance gives the spread along any direction: ``u @ covariance @ u`` is the variance along a unit
    vector u (its square root is the unit of latent-edit strengths).
    """

    space: str
    centre: torch.Tensor        # [D]: 0 in Z, w_avg in W
    coord_std: float            # root-mean-square spread per coordinate around ``centre``
    low: torch.Tensor           # [D] per-coordinate lower quantile
    high: torch.Tensor          # [D] per-coordinate upper quantile
    covariance: torch.Tensor    # [D, D] float64 covariance of the samples (around their own mean)

    @property
    def total_std(self) -> float:
        """Spread of whole codes: sqrt of the summed per-coordinate variance."""
        return self.coord_std * self.centre.numel() ** 0.5

    @property
    def mean_square(self) -> float:
        """Typical squared distance to the centre per coordinate (the prior term's natural scale)."""
        return max(self.coord_std ** 2, 1e-12)


#: samples and seed behind every ``latent_stats`` (fixed, so results never depend on call order)
STATS_SAMPLES, STATS_SEED, STATS_QUANTILE = 4096, 20240, 0.001
_stats_cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _weights_version(G: Generator) -> tuple:
    """Changes whenever a weight is modified in place (training, PTI on this very object)."""
    return tuple(p._version for p in G.parameters())


@torch.no_grad()
def latent_stats(G: Generator, space: str) -> LatentStats:
    """``LatentStats`` of ``space`` (W+ shares W's), cached per generator until its weights change."""
    space = check_space(G, space)
    key = "z" if space == "z" else "w"
    version = _weights_version(G)
    per_generator = _stats_cache.setdefault(G, {})
    cached = per_generator.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    z = G.sample_z(STATS_SAMPLES, STATS_SEED)
    if key == "z":  # the prior itself: unit spread by construction, only the quantiles are measured
        values, centre = z.float(), torch.zeros(z.shape[1], device=z.device)
    else:
        c = None
        if G.c_dim:
            g = torch.Generator().manual_seed(STATS_SEED)
            c = G.one_hot(torch.randint(0, G.c_dim, (STATS_SAMPLES,), generator=g))
        values = G.mapping(z, c)[:, 0]
        centre = G.w_avg.reshape(-1).to(values.device)
    values = values.float()
    coord_std = 1.0 if key == "z" else float((values - centre).pow(2).mean().sqrt())
    low = torch.quantile(values, STATS_QUANTILE, dim=0)
    high = torch.quantile(values, 1 - STATS_QUANTILE, dim=0)
    centred = values.double() - values.double().mean(0)
    covariance = centred.T @ centred / (values.shape[0] - 1)
    stats = LatentStats(key, centre.detach().clone(), coord_std, low, high, covariance)
    per_generator[key] = (version, stats)
    return stats
