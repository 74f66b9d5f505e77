"""The one generator interface every backend implements and every later module uses.

Images are NCHW float tensors in [-1, 1]. Latent spaces:
  - ``z``:  [N, z_dim] Gaussian inputs,
  - ``w``:  [N, w_dim] one intermediate code broadcast to every layer,
  - ``w+``: [N, num_ws, w_dim] one code per layer.
Generators without a mapping network (plain ``nn.Module`` z -> image) only have ``z``.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

SPACES = ("z", "w", "w+")


class Generator(nn.Module):
    """Abstract generator. Subclasses set the attributes below and implement ``mapping``/``synthesis``."""

    z_dim: int
    w_dim: int
    num_ws: int
    c_dim: int = 0
    resolution: int
    channels: int
    #: latent spaces this generator supports, a subset of ``SPACES``.
    spaces: Sequence[str] = SPACES

    # -- the two halves ------------------------------------------------------------------------
    def mapping(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None) -> torch.Tensor:
        """Z -> W+ codes of shape [N, num_ws, w_dim]."""
        raise NotImplementedError

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const",
                  noise: Optional[Sequence[torch.Tensor]] = None) -> torch.Tensor:
        """W+ codes [N, num_ws, w_dim] -> images [N, C, H, W] in [-1, 1].

        ``noise`` optionally overrides the per-layer noise maps (see ``noise_shapes``), which is how
        inversion optimises them.
        """
        raise NotImplementedError

    # -- conveniences shared by all backends -----------------------------------------------------
    @property
    def w_avg(self) -> torch.Tensor:
        """Mean W code [w_dim]: centre of truncation and the usual starting point of inversion."""
        raise NotImplementedError

    def noise_shapes(self) -> list:
        """Shapes [1, 1, H, W] of the per-layer noise maps ``synthesis(noise=...)`` accepts."""
        return []

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None, noise_mode: str = "const") -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode)

    def sample_z(self, n: int, seed: int = 0, device=None) -> torch.Tensor:
        """Deterministic z for a seed: the same seed gives the same codes on every device."""
        g = torch.Generator().manual_seed(int(seed))
        z = torch.randn(n, self.z_dim, generator=g)
        return z.to(device if device is not None else self.device)

    def one_hot(self, labels, device=None) -> Optional[torch.Tensor]:
        """Class-conditioning vectors for integer labels (None for unconditional generators)."""
        if self.c_dim == 0:
            if labels is not None:
                raise ValueError("this generator is unconditional (c_dim=0): do not pass a class")
            return None
        labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.c_dim):
            raise ValueError(f"class index out of range: the generator has {self.c_dim} classes")
        c = torch.nn.functional.one_hot(labels, self.c_dim).float()
        return c.to(device if device is not None else self.device)

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, c=None, truncation_psi: float = 1.0,
               noise_mode: str = "const") -> torch.Tensor:
        z = self.sample_z(n, seed)
        if c is not None and not torch.is_tensor(c):
            c = self.one_hot(c)
        return self(z, c, truncation_psi=truncation_psi, noise_mode=noise_mode)

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def describe(self) -> dict:
        """Facts shown by ``cfgan info``."""
        return dict(
            kind=type(self).__name__, resolution=self.resolution, channels=self.channels,
            z_dim=self.z_dim, w_dim=self.w_dim, num_ws=self.num_ws, c_dim=self.c_dim,
            spaces=list(self.spaces), parameters=sum(p.numel() for p in self.parameters()),
        )
