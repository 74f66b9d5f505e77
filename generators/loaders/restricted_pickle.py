"""An unpickler that only rebuilds data (tensors, containers, numpy values), never code.

Official StyleGAN2-ADA / StyleGAN3 snapshots are plain pickles whose networks carry their own Python source
(``torch_utils.persistence``): loading them the usual way executes that source and any global the file
names. Here every global goes through an allow-list; the persistence hook is replaced by
``PersistentRecord`` (class name, constructor arguments and ``nn.Module`` state, the source kept only as
text). Anything else is refused before it can run.
"""
from __future__ import annotations

import _compat_pickle
import codecs
import collections
import io
import os
import pickle
import warnings
from typing import Any, Callable, Dict, Tuple

import numpy as np
import torch

from generators.loaders.errors import CheckpointError

_PICKLE_PROTOCOLS = (2, 3, 4, 5)


class AttrDict(dict):
    """Stand-in for ``dnnlib.EasyDict``: a dict whose keys also read as attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class PersistentRecord:
    """What a ``torch_utils.persistence`` object becomes here: data about the object, not the object.

    ``state`` is the pickled ``__dict__`` (for an ``nn.Module``: ``_parameters``, ``_buffers``,
    ``_modules`` and plain attributes). ``module_src`` is the embedded source, kept as text only.
    """

    def __init__(self, class_name: str, module_src: str, state: dict, version):
        self.class_name = class_name
        self.module_src = module_src
        self.state = state
        self.version = version

    @property
    def init_args(self) -> tuple:
        return tuple(self.state.get("_init_args", ()) or ())

    @property
    def init_kwargs(self) -> dict:
        return dict(self.state.get("_init_kwargs", {}) or {})

    def submodules(self) -> Dict[str, Any]:
        return dict(self.state.get("_modules", {}) or {})

    def __repr__(self):
        return f"PersistentRecord({self.class_name})"


def _persistent_record(meta) -> PersistentRecord:
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise pickle.UnpicklingError("malformed persistent object record")
    return PersistentRecord(str(meta.get("class_name")), str(meta.get("module_src", "")), meta["state"],
                            meta.get("version"))


def _load_storage(data) -> Any:
    """``torch.storage._load_from_bytes``, but through torch's weights-only loader."""
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError("a tensor storage is not stored as bytes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TypedStorage deprecation notice
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _check_storage(storage):
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError(f"a tensor is built on a {type(storage).__name__}, not a storage")


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, backward_hooks=None, *unused):
    _check_storage(storage)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False,
                                               collections.OrderedDict())


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *unused):
    if not torch.is_tensor(data):
        raise pickle.UnpicklingError("a parameter does not wrap a tensor")
    return data


def _numpy_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("numpy array of a foreign subclass")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("numpy scalar of object dtype")
    if isinstance(data, str):  # protocol-2 pickles written by Python 2
        data = data.encode("latin1")
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0]


def _numpy_frombuffer(buffer, dtype, shape, order):
    if dtype.hasobject:
        raise pickle.UnpicklingError("numpy array of object dtype")
    return np.frombuffer(bytes(buffer), dtype=dtype).reshape(shape, order=order).copy()


def _codecs_encode(text, encoding="utf-8"):
    """Protocol-2 pickles store bytes as ``_codecs.encode(str, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("unexpected _codecs.encode call")
    return codecs.encode(text, "latin1")


def _allowed_globals() -> Dict[Tuple[str, str], Callable]:
    allowed = {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_record,
        ("dnnlib.util", "EasyDict"): AttrDict,
        ("dnnlib", "EasyDict"): AttrDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): _load_storage,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("_codecs", "encode"): _codecs_encode,
        ("numpy", "dtype"): np.dtype,
        ("numpy", "ndarray"): np.ndarray,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = _numpy_reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = _numpy_scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = _numpy_frombuffer
    for name in ("float16", "bfloat16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64",
                 "bool"):
        allowed[("torch", name)] = getattr(torch, name)
    return allowed


_ALLOWED = _allowed_globals()

#: globals whose presence identifies a known format we cannot read, with the advice to give.
_KNOWN_FOREIGN = {
    "dnnlib.tflib.network": "it is a TensorFlow-era StyleGAN pickle; convert it with stylegan2-ada-pytorch's "
                            "legacy.py (or rosinality's convert_weight.py) first",
}


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` only hands out the data rebuilders in ``_ALLOWED``."""

    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module, name):
        # Protocol-2 pickles name Python 2 modules (``__builtin__.set``); pickle maps them the same way.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        found = _ALLOWED.get((module, name))
        if found is not None:
            return found
        for prefix, advice in _KNOWN_FOREIGN.items():
            if module.startswith(prefix):
                raise CheckpointError(f"{self.source}: cannot load: {advice}")
        raise CheckpointError(
            f"{self.source}: refusing to load: the pickle references the global '{module}.{name}', which is "
            "not plain data (tensors, containers, numpy values). Loading it could run code from the file, "
            "so it was not loaded.")

    def persistent_load(self, pid):
        raise CheckpointError(f"{self.source}: refusing to load: the pickle uses persistent ids, which this "
                              "loader does not resolve")


def is_pickle_header(head: bytes) -> bool:
    """True if ``head`` starts like a pickle of protocol 2 or later (everything torch/official writes)."""
    return len(head) >= 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS


def load_restricted(path: str) -> Any:
    """Unpickle ``path`` with ``RestrictedUnpickler``; any failure is a ``CheckpointError`` naming it."""
    source = os.fspath(path)
    with open(source, "rb") as f:
        try:
            return RestrictedUnpickler(f, source).load()
        except CheckpointError:
            raise
        except (EOFError, pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError, AttributeError,
                RuntimeError, MemoryError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{source} is truncated or corrupt (unpickling failed: "
                                  f"{type(exc).__name__}: {exc})") from None
