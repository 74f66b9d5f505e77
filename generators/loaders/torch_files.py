"""Reading torch files (``torch.save`` zip or legacy format) with the weights-only unpickler only."""
from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import re
import zipfile
from typing import Any, List

import torch

from generators.loaders.errors import CheckpointError

ZIP_MAGIC = b"PK\x03\x04"
#: how ``torch.save(..., _use_new_zipfile_serialization=False)`` files start (pickled magic number).
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
#: plain-data classes of common checkpoints beyond torch's default allow-list (rosinality's ``args``).
EXTRA_SAFE_GLOBALS = [argparse.Namespace]


def zip_names(path: str) -> List[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(f"{path} is truncated or corrupt (not a readable zip archive: {exc})") from None


def _safe_globals():
    add = getattr(torch.serialization, "safe_globals", None)
    return add(EXTRA_SAFE_GLOBALS) if add else contextlib.nullcontext()


def torch_load(path) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU; failures become ``CheckpointError`` naming the file."""
    source = os.fspath(path)
    with open(source, "rb") as f:
        head = f.read(len(LEGACY_MAGIC))
    if not (head.startswith(ZIP_MAGIC) or head == LEGACY_MAGIC):
        raise CheckpointError(f"{source} is not a torch file (it starts with {head[:8]!r})")
    try:
        with _safe_globals():
            return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        message = str(exc)
        found = re.search(r"[Uu]nsupported (?:global:? )?(?:GLOBAL )?([\w.]+)", message)
        if found or "Weights only load failed" in message:
            what = f"the global '{found.group(1)}'" if found else "Python objects that are not plain data"
            raise CheckpointError(f"{source}: refusing to load: it references {what}, beyond tensors and "
                                  "plain containers; loading it could run code from the file, so it was "
                                  "not loaded") from None
        raise CheckpointError(f"{source} is truncated or corrupt ({message.splitlines()[0]})") from None
    except (RuntimeError, EOFError, ValueError, KeyError, IndexError, TypeError, AttributeError,
            zipfile.BadZipFile, MemoryError) as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise CheckpointError(f"{source} is truncated or corrupt ({type(exc).__name__}: {first})") from None
