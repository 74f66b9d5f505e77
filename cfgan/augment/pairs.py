"""Which boundary each image is mined at: ``--pairs Shirt:T-shirt/top,Pullover:Coat``.

A pair names a decision boundary between two classes, in either direction: an image the classifier assigns
to one side gets paths to the other side. An image whose class is in no pair is skipped. A class in several
pairs (``Shirt:T-shirt/top,Shirt:Pullover``) is mined at the boundary it is nearest to: the other class
with the highest probability for that image. ``auto`` mines every image at the boundary with its runner-up
class (the class the classifier finds second most likely).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

AUTO = "auto"


@dataclass(frozen=True)
class Boundary:
    """Where one image is mined: the pair's text, the image's class (source) and the class it crosses to."""

    pair: str
    source: int
    target: int


@dataclass(frozen=True)
class ClassPairs:
    pairs: Tuple[Tuple[int, int], ...]  # class indices; empty with ``auto``
    class_names: Tuple[str, ...]
    auto: bool = False

    @classmethod
    def parse(cls, text: str, classifier, option: str = "--pairs") -> "ClassPairs":
        """``A:B,C:D`` (class names or indices of ``classifier``) or ``auto``; ValueError naming ``option``."""
        k = classifier.num_classes
        names = tuple(classifier.class_names) if classifier.class_names else tuple(str(i) for i in range(k or 0))
        if str(text).strip().lower() == AUTO:
            return cls((), names, auto=True)
        pairs: List[Tuple[int, int]] = []
        for part in str(text).split(","):
            if not part.strip():
                continue
            sides = part.split(":")
            if len(sides) != 2 or not all(s.strip() for s in sides):
                raise ValueError(f"{option}: {part.strip()!r} is not CLASS:CLASS (e.g. Shirt:T-shirt/top), or "
                                 "use 'auto'")
            try:
                a, b = (classifier.class_index(s.strip()) for s in sides)
            except (ValueError, KeyError, IndexError) as err:
                raise ValueError(f"{option}: {err}") from None
            if a == b:
                raise ValueError(f"{option}: {part.strip()!r} pairs a class with itself")
            if (a, b) in pairs or (b, a) in pairs:
                raise ValueError(f"{option}: the pair {part.strip()!r} is listed twice")
            pairs.append((a, b))
        if not pairs:
            raise ValueError(f"{option}: no pairs given (e.g. Shirt:T-shirt/top,Pullover:Coat, or 'auto')")
        return cls(tuple(pairs), names)

    @property
    def text(self) -> str:
        return AUTO if self.auto else ",".join(f"{self.name(a)}:{self.name(b)}" for a, b in self.pairs)

    def name(self, index: int) -> str:
        return self.class_names[index] if index < len(self.class_names) else str(index)

    def boundary(self, probs: Sequence[float]) -> Optional[Boundary]:
        """The boundary an image with class probabilities ``probs`` is mined at, or None (its class is in no
        pair)."""
        ranked = sorted(range(len(probs)), key=lambda c: (-float(probs[c]), c))
        source = ranked[0]
        if self.auto:
            target = ranked[1]
            return Boundary(f"{self.name(source)}:{self.name(target)}", source, target)
        options = [(a, b) if a == source else (b, a) for a, b in self.pairs if source in (a, b)]
        if not options:
            return None
        a, b = min(options, key=lambda ab: (-float(probs[ab[1]]), ab[1]))
        pair = next(p for p in self.pairs if set(p) == {a, b})
        return Boundary(f"{self.name(pair[0])}:{self.name(pair[1])}", a, b)
