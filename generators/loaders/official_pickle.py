"""Official stylegan2-ada-pytorch / stylegan3-repo network pickles -> ``StyleGAN2Generator``.

A snapshot is ``pickle.dump(dict(G=..., D=..., G_ema=..., training_set_kwargs=..., augment_pipe=...))``
whose networks are ``torch_utils.persistence`` objects. They are read with ``RestrictedUnpickler`` (no
embedded source is executed); the generator's constructor arguments and tensors are taken from its record
and loaded into the native network, which has the same state-dict layout.
"""
from __future__ import annotations

import json
import os
from typing import Dict, Optional

import torch

from generators.loaders.errors import CheckpointError
from generators.loaders.restricted_pickle import PersistentRecord, load_restricted
from generators.loaders.state_dicts import load_strict
from generators.stylegan2 import StyleGAN2Generator

#: the official ``Generator.__init__`` positional order, for records built with positional arguments.
_GENERATOR_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs",
                   "synthesis_kwargs")
_TOP_LEVEL = _GENERATOR_ARGS[:5]
#: options that only change speed/memory or training in the official code (or forks), not the function
#: computed by a loaded generator.
_SPEED_ONLY = ("fused_modconv_default",)
_TRAIN_ONLY_MAPPING = ("freeze_layers", "freeze_embed")
#: hyper-parameters whose defaults differ between repos (the stylegan3 repo's StyleGAN2 clamps at 256 by
#: default, stylegan2-ada-pytorch does not): when a record does not state them, the value its network
#: actually used is read from the sub-network's state. (kwargs group, name, record path, attribute)
_EFFECTIVE_VALUES = (
    ("synthesis_kwargs", "conv_clamp", ("synthesis", "b4", "conv1"), "conv_clamp"),
    ("synthesis_kwargs", "architecture", ("synthesis", "b4"), "architecture"),
    ("synthesis_kwargs", "num_fp16_res", ("synthesis",), "num_fp16_res"),
    ("synthesis_kwargs", "use_noise", ("synthesis", "b4", "conv1"), "use_noise"),
    ("synthesis_kwargs", "activation", ("synthesis", "b4", "conv1"), "activation"),
    ("mapping_kwargs", "num_layers", ("mapping",), "num_layers"),
    ("mapping_kwargs", "w_avg_beta", ("mapping",), "w_avg_beta"),
    ("mapping_kwargs", "lr_multiplier", ("mapping", "fc0"), "bias_gain"),
    ("mapping_kwargs", "activation", ("mapping", "fc0"), "activation"),
)
#: class names that only exist in the stylegan3 repo's ``networks_stylegan3``.
_STYLEGAN3_CLASSES = {"SynthesisInput"}
WHICH = ("G_ema", "G")


def _walk(record: PersistentRecord):
    yield record
    for sub in record.submodules().values():
        if isinstance(sub, PersistentRecord):
            yield from _walk(sub)


def _is_stylegan3(record: PersistentRecord) -> bool:
    if any(r.class_name in _STYLEGAN3_CLASSES for r in _walk(record)):
        return True
    return "class SynthesisInput" in record.module_src


def _record_at(record: PersistentRecord, path) -> Optional[PersistentRecord]:
    for name in path:
        record = record.submodules().get(name)
        if not isinstance(record, PersistentRecord):
            return None
    return record


def _fill_effective_values(record: PersistentRecord, kwargs: dict) -> None:
    for group, name, path, attribute in _EFFECTIVE_VALUES:
        sub = _record_at(record, path)
        if name not in kwargs[group] and sub is not None and attribute in sub.state:
            value = sub.state[attribute]
            kwargs[group][name] = value.item() if hasattr(value, "item") else value


def collect_tensors(record: PersistentRecord, source: str, prefix: str = "") -> Dict[str, torch.Tensor]:
    """Parameters and persistent buffers of a record tree, keyed like ``nn.Module.state_dict()``."""
    state = record.state
    tensors = {}
    skipped = set(state.get("_non_persistent_buffers_set", ()) or ())
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is None or (group == "_buffers" and name in skipped):
                continue
            if not torch.is_tensor(value):
                raise CheckpointError(f"{source}: {prefix}{name} of {record.class_name} is a "
                                      f"{type(value).__name__}, not a tensor")
            tensors[prefix + name] = value
    for name, sub in record.submodules().items():
        if sub is None:
            continue
        if not isinstance(sub, PersistentRecord):
            raise CheckpointError(f"{source}: submodule {prefix}{name} is a {type(sub).__name__}, "
                                  "not a network record")
        tensors.update(collect_tensors(sub, source, prefix + name + "."))
    return tensors


def generator_kwargs(record: PersistentRecord, source: str) -> dict:
    """The record's constructor arguments in ``StyleGAN2Generator`` form.

    The stylegan3 repo's StyleGAN2 passes synthesis options as flat keywords; they are moved into
    ``synthesis_kwargs``. Speed- and training-only switches are dropped; defaults that differ between repos
    are made explicit from the pickled sub-networks.
    """
    args = record.init_args
    if len(args) > len(_GENERATOR_ARGS):
        raise CheckpointError(f"{source}: the generator record has {len(args)} positional arguments")
    kwargs = dict(zip(_GENERATOR_ARGS, args))
    kwargs.update(record.init_kwargs)
    mapping_kwargs = dict(kwargs.pop("mapping_kwargs", None) or {})
    synthesis_kwargs = dict(kwargs.pop("synthesis_kwargs", None) or {})
    top = {name: kwargs.pop(name) for name in _TOP_LEVEL if name in kwargs}
    missing = [name for name in _TOP_LEVEL if name not in top]
    if missing:
        raise CheckpointError(f"{source}: the generator record lacks its constructor arguments {missing}")
    synthesis_kwargs.update(kwargs)
    for name in _SPEED_ONLY:
        synthesis_kwargs.pop(name, None)
    for name in _TRAIN_ONLY_MAPPING:
        mapping_kwargs.pop(name, None)
    kwargs = dict(top, mapping_kwargs=mapping_kwargs, synthesis_kwargs=synthesis_kwargs)
    _fill_effective_values(record, kwargs)
    return kwargs


def generator_from_record(record: PersistentRecord, source: str) -> StyleGAN2Generator:
    if _is_stylegan3(record):
        raise CheckpointError(f"{source}: holds a StyleGAN3 generator (stylegan3 repo, networks_stylegan3); "
                              "StyleGAN3 is not supported, only StyleGAN2 / StyleGAN2-ADA generators")
    if record.class_name != "Generator":
        raise CheckpointError(f"{source}: the network is a '{record.class_name}', not a StyleGAN2 Generator")
    kwargs = generator_kwargs(record, source)
    try:
        G = StyleGAN2Generator(**kwargs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{source}: unsupported generator hyper-parameters ({exc})") from None
    load_strict(G, collect_tensors(record, source), source, "a StyleGAN2 generator")
    return G


def load_official_pickle(path: str, which: str = "G_ema") -> StyleGAN2Generator:
    """The generator ``which`` ('G_ema', the default, or 'G') of an official network pickle."""
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    source = str(path)
    data = load_restricted(source)
    if isinstance(data, PersistentRecord):  # a bare pickled network
        G = generator_from_record(data, source)
        G.meta = dict(source_format="official-pickle", source_file=os.path.basename(source))
        return G
    if not isinstance(data, dict):
        raise CheckpointError(f"{source} is not a generator checkpoint: a pickle holding a "
                              f"{type(data).__name__}")
    networks = {k: v for k, v in data.items() if isinstance(v, PersistentRecord)}
    if which not in networks:
        found = sorted(map(str, data)) if not networks else sorted(networks)
        raise CheckpointError(f"{source}: no network '{which}' in this pickle (it holds {found})")
    G = generator_from_record(networks[which], source)
    G.meta = dict(source_format="official-pickle", source_file=os.path.basename(source), which=which,
                  training_set_kwargs=_plain(data.get("training_set_kwargs")))
    return G


def _plain(value):
    """JSON-safe copy of snapshot metadata (unknown objects become their repr)."""
    return json.loads(json.dumps(value, default=repr))
