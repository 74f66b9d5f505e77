"""File facts and writes every layer of cfgan shares: checksums, TorchScript detection, atomic writes, JSON.

A result file is either complete or absent: each write goes to a unique temporary name in the target's
folder (so two runs writing into one folder never collide) and is renamed over the target in one step.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: new files get the permissions a plain ``open`` would give them (mkstemp's are private to the owner)
_FILE_MODE = 0o666 & ~_read_umask()


def file_sha256(path: PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (checkpoints can be hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_torchscript(path: PathLike) -> bool:
    """True for a ``torch.jit.save`` archive (it carries ``code/`` and ``constants.pkl``), without loading it."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile, EOFError):
        return False
    return any(n.endswith("constants.pkl") or "/code/" in n for n in names)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """A unique temporary path beside ``path`` with the same suffix, for writers that take a file name and
    choose the format from it (imageio, matplotlib, numpy); on success it replaces ``path`` in one rename.

    On any exception (Ctrl-C included) the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "w", encoding: str = "utf-8") -> Iterator[IO]:
    """Open a unique temporary file beside ``path`` (``atomic_path``); flushed to disk, it replaces ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": encoding})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def json_default(value: Any) -> Any:
    """What JSON cannot hold as is: tensors, arrays and numpy scalars as numbers or lists, sets as lists,
    anything else as its text."""
    if hasattr(value, "tolist"):  # torch tensors, numpy arrays and numpy scalars
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return list(value)
    return str(value)


def write_json(path: PathLike, data: Any, default=json_default) -> Path:
    """``data`` as indented JSON, atomically (values JSON cannot hold go through ``default``)."""
    with atomic_write(path) as f:
        json.dump(data, f, indent=2, default=default)
    return Path(path)


def write_bytes(path: PathLike, data: bytes) -> Path:
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def torch_save(obj: Any, path: PathLike) -> Path:
    """``torch.save`` atomically: a half-written checkpoint never appears under the real name."""
    import torch

    with atomic_write(path, "wb") as f:
        torch.save(obj, f)
    return Path(path)
