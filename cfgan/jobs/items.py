"""Where work items come from: seed lists, image files, latent files. All are streamed, never expanded.

Item keys become folder names, so they are unique within a run and safe on every file system: seeds are
``seed00042``; images keep their file stem, prefixed by their folder where two files share a stem.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

from .runner import Item, JobError

#: the largest seed ``G.sample_z`` accepts (numpy-compatible 32-bit seeds)
MAX_SEED = 2 ** 32 - 1
#: more items than this in one command is almost certainly a typo (0-100000000 instead of 0-100)
MAX_ITEMS = 1_000_000


@dataclass(frozen=True)
class SeedList:
    """Parsed ``0-15,20,30-31``: ranges kept as ranges, so a million seeds cost nothing until used."""

    text: str
    ranges: Tuple[Tuple[int, int], ...]  # inclusive (low, high)

    @classmethod
    def parse(cls, text, option: str = "--seeds", max_items: int = MAX_ITEMS) -> "SeedList":
        ranges: List[Tuple[int, int]] = []
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                continue
            found = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
            if not found:
                raise JobError(f"{option}: {part!r} is not a seed or a range like 0-15 (seeds are integers "
                               f"0..{MAX_SEED})")
            low = int(found.group(1))
            high = int(found.group(2)) if found.group(2) is not None else low
            if high < low:
                raise JobError(f"{option}: range {part!r} runs backwards")
            if high > MAX_SEED:
                raise JobError(f"{option}: seed {high} is too large (seeds are 0..{MAX_SEED})")
            ranges.append((low, high))
        if not ranges:
            raise JobError(f"{option}: no seeds given")
        ordered = sorted(ranges)
        for (_, a_hi), (b_lo, _) in zip(ordered, ordered[1:]):
            if b_lo <= a_hi:
                raise JobError(f"{option}: seed {b_lo} is listed twice")
        seeds = cls(str(text), tuple(ranges))
        if len(seeds) > max_items:
            raise JobError(f"{option}: {len(seeds):,} seeds is more than {max_items:,} in one run; "
                           "split the work into several runs (or check the range for a typo)")
        return seeds

    def __len__(self) -> int:
        return sum(high - low + 1 for low, high in self.ranges)

    def __iter__(self) -> Iterator[int]:
        for low, high in self.ranges:
            yield from range(low, high + 1)

    def items(self) -> Iterator[Item]:
        for index, seed in enumerate(self):
            yield Item(f"seed{seed:05d}", index, seed)


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(text: str) -> str:
    """A folder-name version of ``text`` (no separators, no leading dots)."""
    name = _UNSAFE.sub("_", text).strip("._") or "item"
    return name[:120]


def file_keys(paths: Sequence[str]) -> List[str]:
    """One unique, stable key per file: its stem, or ``folder_stem`` where stems collide."""
    stems = [safe_name(os.path.splitext(os.path.basename(p))[0]) for p in paths]
    counts = {s: stems.count(s) for s in set(stems)}
    keys, seen = [], set()
    for path, stem in zip(paths, stems):
        key = stem
        if counts[stem] > 1:
            parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
            key = safe_name(f"{parent}_{stem}")
        base, n = key, 1
        while key in seen:
            key = f"{base}_{n}"
            n += 1
        seen.add(key)
        keys.append(key)
    return keys


def check_files(paths: Sequence[str], option: str = "IMAGES") -> List[str]:
    """Every path an existing file, or one error listing the missing ones."""
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise JobError(f"{option}: no such file: {', '.join(missing[:3])}{more}")
    if len(paths) > MAX_ITEMS:
        raise JobError(f"{option}: {len(paths):,} files is more than {MAX_ITEMS:,} in one run; split the work")
    return list(paths)


def file_items(paths: Sequence[str]) -> Iterator[Item]:
    for index, (key, path) in enumerate(zip(file_keys(paths), paths)):
        yield Item(key, index, path)


def latent_keys(files: Optional[Sequence[str]], n: int) -> List[str]:
    """Keys for the codes of a latent file: the inverted files' keys when it lists them."""
    return file_keys(list(files)) if files else [f"latent{i:04d}" for i in range(n)]


#: file suffixes read as images when a folder is given (what ``cfgan.data.load_image`` reads)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def images_in(folder: str) -> List[str]:
    """The image files directly in ``folder``, in name order (subfolders and other files are ignored)."""
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder))
            if n.lower().endswith(IMAGE_SUFFIXES) and os.path.isfile(os.path.join(folder, n))]


def image_tree(folder: str, option: str = "DATA") -> Tuple[List[str], List[Optional[str]]]:
    """The images under ``folder`` in a fixed order: (paths, the class folder of each or None).

    An ImageFolder tree (``folder/<class>/<image>``, as torchvision reads it) gives each image its class
    folder's name; images directly in ``folder`` have none. Deeper levels and other files are ignored.
    """
    if not os.path.isdir(folder):
        raise JobError(f"{option}: no such folder: {folder}")
    paths: List[str] = images_in(folder)
    labels: List[Optional[str]] = [None] * len(paths)
    for name in sorted(os.listdir(folder)):
        sub = os.path.join(folder, name)
        if os.path.isdir(sub) and not name.startswith("."):
            found = images_in(sub)
            paths += found
            labels += [name] * len(found)
    if not paths:
        raise JobError(f"{option}: {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}) directly or in class "
                       "folders")
    if len(paths) > MAX_ITEMS:
        raise JobError(f"{option}: {len(paths):,} images is more than {MAX_ITEMS:,} in one run; split the work")
    return paths, labels
