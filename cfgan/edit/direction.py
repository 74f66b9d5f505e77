"""A latent direction: its name, its vector(s), where it came from, and how to save and load it.

A direction is a unit vector in W (``[w_dim]``: the same shift for every edited layer) or in W+
(``[num_ws, w_dim]``: a shift per layer, unit norm over all layers). Gradient directions differ per image
and hold one vector per image (``per_image``). ``target`` names the class the positive side leads to, when
there is one (class gradients and boundaries), so edits can report where the classifier's decision crosses.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import torch

FORMAT = "cfgan.direction"
VERSION = 1
SUFFIXES = (".npy", ".pt", ".pth")


@dataclass
class Direction:
    name: str
    kind: str  # 'gradient', 'boundary', 'pca', 'file'
    vector: torch.Tensor
    per_image: bool = False
    target: Optional[str] = None
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        v = torch.as_tensor(self.vector).detach().float().cpu()
        item_dims = v.dim() - (1 if self.per_image else 0)
        if item_dims not in (1, 2) or v.numel() == 0:
            raise ValueError(f"direction {self.name!r}: a vector must be [w_dim] or [num_ws, w_dim]"
                             f"{' per image' if self.per_image else ''}, got shape {list(v.shape)}")
        if not bool(torch.isfinite(v).all()):
            raise ValueError(f"direction {self.name!r} has non-finite values")
        flat = v.reshape(v.shape[0], -1) if self.per_image else v.reshape(1, -1)
        norms = flat.norm(dim=1)
        if bool((norms <= 1e-12).any()):
            raise ValueError(f"direction {self.name!r} is zero{' for some image' if self.per_image else ''}: "
                             "it does not point anywhere")
        if bool(((norms - 1).abs() > 1e-6).any()):  # already unit vectors (a saved direction) stay bit-exact
            v = (flat / norms[:, None]).reshape(v.shape)
        self.vector = v

    # -- shape -----------------------------------------------------------------------------------------
    @property
    def space(self) -> str:
        """'w' (one vector for every layer) or 'w+' (one per layer)."""
        return "w" if self.vector.dim() - (1 if self.per_image else 0) == 1 else "w+"

    @property
    def w_dim(self) -> int:
        return self.vector.shape[-1]

    def __len__(self) -> int:
        return self.vector.shape[0] if self.per_image else 1

    def check_for(self, G) -> "Direction":
        """Raise a clear error when this direction does not fit ``G``'s latent shapes."""
        if self.w_dim != G.w_dim:
            raise ValueError(f"direction {self.name!r} has w_dim {self.w_dim}, the generator has w_dim {G.w_dim}")
        if self.space == "w+" and self.vector.shape[-2] != G.num_ws:
            raise ValueError(f"direction {self.name!r} has {self.vector.shape[-2]} layers, "
                             f"the generator has num_ws={G.num_ws}")
        return self

    def as_wplus(self, num_ws: int, n: int) -> torch.Tensor:
        """The vector(s) as W+ shifts [n, num_ws, w_dim] (a W direction repeated on every layer)."""
        v = self.vector
        if self.per_image and v.shape[0] != n:
            raise ValueError(f"direction {self.name!r} holds {v.shape[0]} per-image vectors for {n} codes")
        if not self.per_image:
            v = v.unsqueeze(0)
        if self.space == "w":
            v = v.unsqueeze(1).expand(-1, num_ws, -1)
        elif v.shape[1] != num_ws:
            raise ValueError(f"direction {self.name!r} has {v.shape[1]} layers, the codes have {num_ws}")
        return v.expand(n, -1, -1).clone()

    def select(self, index) -> "Direction":
        """The directions of some images (per-image directions, with their per-image provenance entries); a
        shared direction is returned as is."""
        if not self.per_image:
            return self
        if isinstance(index, int):
            index = [index]
        n = len(self)
        provenance = {k: [v[i] for i in index] if isinstance(v, list) and len(v) == n else v
                      for k, v in self.provenance.items()}
        return Direction(self.name, self.kind, self.vector[index], True, self.target, provenance)

    @staticmethod
    def cat(directions: Sequence["Direction"]) -> "Direction":
        """Per-image directions of several batches as one (per-image provenance entries joined)."""
        first = directions[0]
        if not all(d.per_image for d in directions):
            raise ValueError("only per-image directions are joined")
        lists = {k for k, v in first.provenance.items() if isinstance(v, list) and len(v) == len(first)}
        provenance = {k: sum((d.provenance[k] for d in directions), []) if k in lists else v
                      for k, v in first.provenance.items()}
        return Direction(first.name, first.kind, torch.cat([d.vector for d in directions]), True, first.target,
                         provenance)

    def describe(self) -> dict:
        """What a report says about the direction (everything but the vector)."""
        return {"name": self.name, "kind": self.kind, "space": self.space, "per_image": self.per_image,
                "target": self.target, "provenance": self.provenance}

    # -- files ----------------------------------------------------------------------------------------
    def save(self, path: str, G=None) -> str:
        """``.pt``: vector, name, kind, provenance and the generator's identity; ``.npy``: the vector only."""
        from generators.files import atomic_path, torch_save

        suffix = os.path.splitext(path)[1].lower()
        if suffix == ".npy":
            with atomic_path(path) as tmp:
                np.save(tmp, self.vector.numpy())
            return path
        if suffix not in (".pt", ".pth"):
            raise ValueError(f"cannot save a direction as {path}: use a .pt or .npy file name")
        identity = None
        if G is not None:
            from inversion.io import generator_identity

            identity = generator_identity(G)
        torch_save({"format": FORMAT, "version": VERSION, "name": self.name, "kind": self.kind,
                    "vector": self.vector, "per_image": self.per_image, "target": self.target,
                    "provenance": self.provenance, "generator": identity}, path)
        return path


def load_direction(path: str, G=None, name: Optional[str] = None) -> Direction:
    """A direction from a file: a saved ``Direction`` (.pt) or a bare vector (.npy, .pt tensor).

    The vector must be ``[w_dim]`` or ``[num_ws, w_dim]`` (checked against ``G`` when given); every problem
    is reported with the file's name.
    """
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"direction file {path}: unsupported type {suffix or '(no suffix)'}; "
                         "use a .npy array or a .pt tensor")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"direction file not found: {path}")
    meta = {}
    try:
        if suffix == ".npy":
            payload = np.load(path, allow_pickle=False)
        else:
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # numpy and torch raise many kinds for foreign or broken files
        first = str(err).splitlines()[0] if str(err) else ""
        raise ValueError(f"direction file {path} is not readable as {suffix} ({type(err).__name__}: {first})"
                         ) from None
    if isinstance(payload, dict):
        if payload.get("format") != FORMAT:
            raise ValueError(f"direction file {path} holds a dict that is not a cfgan direction "
                             f"(keys: {', '.join(map(str, list(payload)[:8]))}); save a bare tensor instead")
        if payload.get("version", 0) > VERSION:
            raise ValueError(f"direction file {path} was written by a newer cfgan (v{payload['version']})")
        meta, vector = payload, payload["vector"]
    else:
        vector = payload
    if isinstance(vector, np.ndarray):
        if not np.issubdtype(vector.dtype, np.number) or np.iscomplexobj(vector):
            raise ValueError(f"direction file {path} holds {vector.dtype} values, not real numbers")
        vector = torch.from_numpy(np.asarray(vector, dtype=np.float32))
    if not torch.is_tensor(vector):
        raise ValueError(f"direction file {path} holds a {type(vector).__name__}, not an array or tensor")
    per_image = bool(meta.get("per_image", False))
    shape = list(vector.shape)
    expected = "[w_dim] or [num_ws, w_dim]" if G is None else f"[{G.w_dim}] or [{G.num_ws}, {G.w_dim}]"
    item = shape[1:] if per_image else shape
    if len(item) not in (1, 2):
        raise ValueError(f"direction file {path} holds an array of shape {shape}; a direction must be {expected}")
    if G is not None:
        ok = item == [G.w_dim] or item == [G.num_ws, G.w_dim]
        if not ok:
            raise ValueError(f"direction file {path} holds an array of shape {shape}; this generator needs "
                             f"{expected} (w_dim={G.w_dim}, num_ws={G.num_ws})")
    vector = vector.float()
    if not bool(torch.isfinite(vector).all()):
        raise ValueError(f"direction file {path} holds non-finite values (nan or inf)")
    if float(vector.abs().max()) == 0:
        raise ValueError(f"direction file {path} holds an all-zero vector: it does not point anywhere")
    stem = os.path.splitext(os.path.basename(path))[0]
    provenance = dict(meta.get("provenance") or {}, file=os.path.abspath(path))
    return Direction(name or meta.get("name") or stem, meta.get("kind") or "file", vector, per_image,
                     meta.get("target"), provenance)
