"""``load(path_or_name)``: find out what a checkpoint is by its content, then hand it to its loader."""
from __future__ import annotations

import os
from typing import Any

from generators.base import Generator
from generators.files import file_sha256, is_torchscript
from generators.importing import is_object_spec
from generators.loaders import zoo
from generators.loaders.errors import CheckpointError
from generators.loaders.module import load_module_spec, load_torchscript
from generators.loaders.native import FORMAT, generator_from_native
from generators.loaders.official_pickle import load_official_pickle
from generators.loaders.restricted_pickle import is_pickle_header
from generators.loaders.rosinality import generator_from_rosinality
from generators.loaders.torch_files import LEGACY_MAGIC, ZIP_MAGIC, torch_load, zip_names

WHICH = ("G_ema", "G")
_PREVIEW = 10


def _describe_content(data: Any) -> str:
    if isinstance(data, dict):
        keys = sorted(map(str, data))
        more = f", ... ({len(keys)} in all)" if len(keys) > _PREVIEW else ""
        text = f"a torch file holding keys [{', '.join(keys[:_PREVIEW])}{more}]"
        if any(k.endswith((".weight", "state_dict")) for k in keys):
            text += ("; a bare state dict does not say which network it belongs to: build that network and "
                     "load it as 'package.module:attr'")
        return text
    return f"a torch file holding a {type(data).__name__}"


def _single(source: str, which: str, what: str) -> None:
    if which != "G_ema":
        raise CheckpointError(f"{source}: {what} holds a single generator; which={which!r} only applies to "
                              "official pickles and rosinality training checkpoints")


def _from_torch_data(data: Any, source: str, which: str) -> Generator:
    if isinstance(data, dict) and data.get("format") == FORMAT:
        _single(source, which, "a cfgan generator file")
        return generator_from_native(data, source)
    if isinstance(data, dict) and "g_ema" in data:
        return generator_from_rosinality(data, source, which=which)
    raise CheckpointError(f"{source} is not a generator checkpoint: {_describe_content(data)}")


def load_file(path: str, which: str = "G_ema") -> Generator:
    """Generator from a checkpoint file of any supported format, recognised by its first bytes.

    Any failure while reading becomes a ``CheckpointError`` naming the file: a damaged file must never
    surface as an exception from deep inside an unpickler or a state-dict copy.
    """
    source = os.fspath(path)
    try:
        return _load_file(source, which)
    except CheckpointError:
        raise
    except (OSError, MemoryError, RecursionError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            AssertionError, EOFError, OverflowError, RuntimeError, ImportError, NotImplementedError) as exc:
        first = (str(exc).splitlines() or [""])[0][:300]
        raise CheckpointError(f"{source} is truncated or corrupt ({type(exc).__name__}: {first})") from None


def _load_file(source: str, which: str) -> Generator:
    if os.path.isdir(source):
        raise CheckpointError(f"{source} is a directory, not a checkpoint file")
    if os.path.getsize(source) == 0:
        raise CheckpointError(f"{source} is empty (0 bytes)")
    with open(source, "rb") as f:
        head = f.read(len(LEGACY_MAGIC))
    if head.startswith(ZIP_MAGIC):
        zip_names(source)  # a damaged archive is reported as such before anything else
        if is_torchscript(source):
            _single(source, which, "a TorchScript module")
            return load_torchscript(source)
        return _from_torch_data(torch_load(source), source, which)
    if head == LEGACY_MAGIC:
        return _from_torch_data(torch_load(source), source, which)
    if is_pickle_header(head):
        return load_official_pickle(source, which=which)
    raise CheckpointError(f"{source} is not a generator checkpoint: unrecognised file format (it starts with "
                          f"{head[:8]!r}; expected a torch file or a network pickle)")


def load(path_or_name, device="cpu", which: str = "G_ema") -> Generator:
    """The generator in a checkpoint, on ``device``, in eval mode, with gradients off.

    ``path_or_name``: a file (cfgan ``.pt``, official ``.pkl`` snapshot, rosinality ``.pt``, TorchScript),
    ``"zoo:NAME"`` (bundled model, checksum-verified) or ``"package.module:attr"`` (a z -> image module).
    ``which`` picks 'G_ema' (default) or the raw training generator 'G' where a file holds both.
    Loading never executes code stored in a file. Call ``.requires_grad_(True)`` to fine-tune.
    """
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    if not isinstance(path_or_name, (str, os.PathLike)):
        raise TypeError(f"generators.load takes a file path, 'zoo:NAME' or 'package.module:attr', got a "
                        f"{type(path_or_name).__name__} ({path_or_name!r:.60})")
    sha256 = None
    if isinstance(path_or_name, str) and path_or_name.startswith(zoo.PREFIX):
        path = zoo.GENERATORS.path(path_or_name)
        G = load_file(str(path), which=which)
        sha256 = zoo.GENERATORS.card(path_or_name)["sha256"]
    else:
        spec = os.fspath(path_or_name)
        if os.path.exists(spec):
            G = load_file(spec, which=which)
            sha256 = file_sha256(spec) if os.path.isfile(spec) else None
        elif is_object_spec(spec):
            _single(spec, which, "a Python module")
            G = load_module_spec(spec)
        else:
            raise FileNotFoundError(f"generator checkpoint not found: {spec} (no such file; expected a file, "
                                    "'zoo:NAME' or 'package.module:attr')")
    # identity recorded in latent files, so codes are never silently used with another generator
    G.source = {"name": os.fspath(path_or_name), "sha256": sha256, "which": which}
    return G.to(device).eval().requires_grad_(False)
