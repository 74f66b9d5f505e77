"""Direction specs as the command line writes them: ``class:NAME``, ``boundary:NAME``,
``boundary:SOURCE->TARGET``, ``pca:K`` or a file (``.npy`` / ``.pt``).

``parse_direction_spec`` checks the text without loading anything (so a command fails before any work);
``resolve_direction`` turns a spec into a ``Direction`` (fitting or computing what it needs);
``direction_identity`` is what a run records of one, so a resumed run uses the very same direction.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Optional, Tuple, Union

from inversion import LatentCode

from .direction import SUFFIXES, Direction, load_direction
from .samples import LatentSamples

FORMS = ("class:NAME (the classifier's gradient of NAME's log-odds at each image), "
         "boundary:NAME (linear boundary NAME vs the rest), boundary:SOURCE->TARGET (between two classes; "
         "quote it in a shell), pca:K (K-th principal component of W, 0 = most variance), "
         "or a .npy/.pt file holding [w_dim] or [num_ws, w_dim]")


@dataclass(frozen=True)
class DirectionSpec:
    kind: str  # 'class', 'boundary', 'pca', 'file'
    text: str
    classes: Tuple[str, ...] = ()  # class: (target,), boundary: (positive,) or (negative, positive)
    component: Optional[int] = None
    path: Optional[str] = None

    @property
    def needs_samples(self) -> bool:
        return self.kind == "boundary"

    @property
    def needs_classifier(self) -> bool:
        return self.kind in ("class", "boundary")


def parse_direction_spec(text: Union[str, DirectionSpec]) -> DirectionSpec:
    if isinstance(text, DirectionSpec):
        return text
    raw = str(text).strip()
    head, sep, arg = raw.partition(":")
    kind = head.strip().lower()
    if sep and kind in ("class", "boundary", "pca"):
        arg = arg.strip()
        if not arg:
            raise ValueError(f"direction {raw!r} names no {'component' if kind == 'pca' else 'class'}; use {FORMS}")
        if kind == "pca":
            if not arg.isdigit():
                raise ValueError(f"direction {raw!r}: pca:K needs a component index K >= 0 (0 = most variance)")
            return DirectionSpec("pca", raw, component=int(arg))
        if kind == "class":
            return DirectionSpec("class", raw, classes=(arg,))
        if "->" in arg:
            negative, _, positive = arg.partition("->")
            if not negative.strip() or not positive.strip():
                raise ValueError(f"direction {raw!r}: write boundary:SOURCE->TARGET with both classes")
            return DirectionSpec("boundary", raw, classes=(negative.strip(), positive.strip()))
        return DirectionSpec("boundary", raw, classes=(arg,))
    if os.path.splitext(raw)[1].lower() in SUFFIXES:
        return DirectionSpec("file", raw, path=raw)
    raise ValueError(f"direction {raw!r} not understood: use {FORMS}")


def tensor_digest(*tensors) -> str:
    """A short fingerprint of tensors' values (None entries skipped)."""
    h = hashlib.sha256()
    for t in tensors:
        if t is not None:
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def direction_identity(spec: Union[str, DirectionSpec, Direction]):
    """What names a direction in a run's settings: a spec's text (a file's path and checksum), or a given
    ``Direction``'s name, kind and a fingerprint of its vector."""
    if isinstance(spec, Direction):
        return {"name": spec.name, "kind": spec.kind, "vector_sha": tensor_digest(spec.vector)}
    spec = parse_direction_spec(spec)
    if spec.kind == "file":
        from generators.files import file_sha256

        return {"file": os.path.abspath(spec.path),
                "sha256": file_sha256(spec.path) if os.path.isfile(spec.path) else None}
    return spec.text


def resolve_direction(spec: Union[str, DirectionSpec, Direction], G, classifier=None,
                      code: Optional[LatentCode] = None, samples: Optional[LatentSamples] = None,
                      n_samples: int = 4000, seed: int = 0, held_out: float = 0.25) -> Direction:
    """The ``Direction`` a spec names. ``class:`` needs the codes (a gradient per image); ``boundary:`` fits
    on ``samples`` or on ``n_samples`` fresh seeded samples; ``pca:`` uses mapped samples only."""
    if isinstance(spec, Direction):
        return spec.check_for(G)
    spec = parse_direction_spec(spec)
    if spec.needs_classifier and classifier is None:
        raise ValueError(f"direction {spec.text!r} needs a classifier")
    if spec.kind == "class":
        if code is None:
            raise ValueError(f"direction {spec.text!r} is a gradient at each image: it needs the codes")
        from .gradient import class_direction

        return class_direction(G, classifier, code, spec.classes[0])
    if spec.kind == "boundary":
        from .boundary import boundary_direction

        negative = spec.classes[0] if len(spec.classes) == 2 else None
        return boundary_direction(G, classifier, spec.classes[-1], negative, samples=samples, n=n_samples,
                                  seed=seed, held_out=held_out)
    if spec.kind == "pca":
        from .pca import pca_direction

        return pca_direction(G, spec.component, seed=seed)
    return load_direction(spec.path, G)
