"""rosinality/stylegan2-pytorch checkpoints <-> ``StyleGAN2Generator``.

rosinality's converter writes ``{'g_ema': state_dict, 'latent_avg': w_avg}``; its training script writes
``{'g', 'd', 'g_ema', 'g_optim', 'd_optim', 'args', ...}`` without ``latent_avg``. The network is the same
StyleGAN2 ('skip' architecture, lr-multiplier 0.01 mapping after a pixel norm) laid out differently:

    style.{i+1}              mapping.fc{i}            (same equalised-lr convention, copied as is)
    input.input [1,C,4,4]    synthesis.b4.const [C,4,4]
    conv1 / to_rgb1          synthesis.b4.conv1 / synthesis.b4.torgb
    convs.{2k}, convs.{2k+1}, to_rgbs.{k}   synthesis.b{8*2^k}.conv0 / .conv1 / .torgb
    *.conv.weight [1,O,I,k,k]   *.weight [O,I,k,k];   *.conv.modulation   *.affine
    *.noise.weight [1]       *.noise_strength [];     *.activate.bias   *.bias
    noises.noise_{j} [1,1,H,W]   the j-th layer's noise_const [H,W];   to_rgb bias [1,C,1,1]   [C]

Everything (resolution, channels per resolution, mapping depth, style size, blur kernel) is read from the
state dict itself.
"""
from __future__ import annotations

import math
import os
import re
import warnings
from typing import Dict, List, Optional, Tuple

import torch

from generators.files import torch_save
from generators.loaders.errors import CheckpointError
from generators.loaders.state_dicts import load_strict
from generators.stylegan2 import StyleGAN2Generator

#: rosinality's ``Generator(lr_mlp=0.01)`` default; its checkpoints do not record it.
ROSINALITY_LR_MLP = 0.01
W_AVG_SAMPLES = 10_000
#: the blur filter of every rosinality up-sampling (its ``Generator(blur_kernel=...)`` default).
STANDARD_FILTER = (1, 3, 3, 1)
WHICH_KEYS = {"G_ema": "g_ema", "G": "g"}


# -- layout ---------------------------------------------------------------------------------------
def _layer_names(log2_res: int) -> List[Tuple[str, str]]:
    """(rosinality prefix, native prefix) of every styled layer, in W+ order, for resolution 2**log2_res."""
    pairs = [("conv1", "synthesis.b4.conv1"), ("to_rgb1", "synthesis.b4.torgb")]
    for k, log2 in enumerate(range(3, log2_res + 1)):
        block = f"synthesis.b{2 ** log2}"
        pairs += [(f"convs.{2 * k}", f"{block}.conv0"), (f"convs.{2 * k + 1}", f"{block}.conv1"),
                  (f"to_rgbs.{k}", f"{block}.torgb")]
    return pairs


def _noise_layers(log2_res: int) -> List[str]:
    """Native prefixes of the noise-carrying layers, in rosinality's ``noises.noise_{j}`` order."""
    names = ["synthesis.b4.conv1"]
    for log2 in range(3, log2_res + 1):
        names += [f"synthesis.b{2 ** log2}.conv0", f"synthesis.b{2 ** log2}.conv1"]
    return names


def _indices(state: Dict[str, torch.Tensor], pattern: str) -> List[int]:
    regex = re.compile(pattern)
    return sorted({int(m.group(1)) for m in map(regex.fullmatch, state) if m})


def _fit_channel_base(channels: Dict[int, int], source: str) -> Tuple[int, int]:
    """(channel_base, channel_max) with ``min(channel_base // res, channel_max) == channels[res]``."""
    channel_max = max(channels.values())
    low, high = 0, math.inf
    for res, ch in channels.items():
        if ch == channel_max:
            low = max(low, ch * res)
        else:
            low, high = max(low, ch * res), min(high, (ch + 1) * res)
    if low >= high:
        raise CheckpointError(f"{source}: channels per resolution {channels} do not follow StyleGAN2's "
                              "min(channel_base / resolution, channel_max) rule")
    return int(low), int(channel_max)


def _standard_kernel() -> torch.Tensor:
    """rosinality's upsampling kernel: the normalised outer product of [1, 3, 3, 1], times 2**2."""
    taps = torch.tensor(STANDARD_FILTER, dtype=torch.float64)
    return torch.outer(taps, taps) / taps.sum() ** 2 * 4


def _check_kernels(state: Dict[str, torch.Tensor], source: str) -> None:
    """rosinality's ToRGB upsampling always uses [1, 3, 3, 1] and other conv blur sizes pad differently
    from the official network, so only that (the default, and the only one its training exposes) is
    supported."""
    for key in sorted(k for k in state if k.endswith(("blur.kernel", "upsample.kernel"))):
        kernel = state[key].double()
        if tuple(kernel.shape) != (4, 4) or not torch.allclose(kernel, _standard_kernel(), atol=1e-6):
            raise CheckpointError(f"{source}: '{key}' is not the standard [1, 3, 3, 1] blur kernel; other "
                                  "blur kernels are not supported")


def infer_config(state: Dict[str, torch.Tensor], source: str = "checkpoint") -> dict:
    """``StyleGAN2Generator`` keyword arguments describing a rosinality generator state dict."""
    for key in ("input.input", "conv1.conv.weight", "to_rgb1.conv.weight", "style.1.weight"):
        if key not in state or not torch.is_tensor(state[key]):
            raise CheckpointError(f"{source}: not a rosinality StyleGAN2 generator (no tensor '{key}')")
    mlp = _indices(state, r"style\.(\d+)\.weight")
    if mlp != list(range(1, len(mlp) + 1)):
        raise CheckpointError(f"{source}: mapping layers style.{mlp} are not numbered 1..n")
    style_dim = int(state["style.1.weight"].shape[1])
    num_blocks = len(_indices(state, r"to_rgbs\.(\d+)\.conv\.weight"))
    log2_res = num_blocks + 2
    channels = {4: int(state["input.input"].shape[1])}
    for k in range(num_blocks):
        key = f"convs.{2 * k}.conv.weight"
        if key not in state:
            raise CheckpointError(f"{source}: missing '{key}' for the {2 ** (k + 3)}x{2 ** (k + 3)} block")
        channels[2 ** (k + 3)] = int(state[key].shape[1])
    channel_base, channel_max = _fit_channel_base(channels, source)
    synthesis_kwargs = dict(channel_base=channel_base, channel_max=channel_max, num_fp16_res=0,
                            conv_clamp=None, architecture="skip",
                            resample_filter=list(STANDARD_FILTER))
    _check_kernels(state, source)
    return dict(z_dim=style_dim, c_dim=0, w_dim=style_dim, img_resolution=2 ** log2_res,
                img_channels=int(state["to_rgb1.conv.weight"].shape[1]),
                mapping_kwargs=dict(num_layers=len(mlp), lr_multiplier=ROSINALITY_LR_MLP),
                synthesis_kwargs=synthesis_kwargs)


# -- rosinality -> native -------------------------------------------------------------------------------
def _native_state(state: Dict[str, torch.Tensor], G: StyleGAN2Generator,
                  source: str) -> Dict[str, torch.Tensor]:
    log2_res = int(math.log2(G.resolution))
    out = {}
    used = set()

    def take(key):
        if key not in state:
            raise CheckpointError(f"{source}: rosinality generator weight '{key}' is missing")
        used.add(key)
        return state[key]

    for i in range(G.mapping_network.num_layers):
        out[f"mapping.fc{i}.weight"] = take(f"style.{i + 1}.weight")
        out[f"mapping.fc{i}.bias"] = take(f"style.{i + 1}.bias")
    out["synthesis.b4.const"] = take("input.input")[0]
    for ros, nat in _layer_names(log2_res):
        out[f"{nat}.weight"] = take(f"{ros}.conv.weight")[0]
        out[f"{nat}.affine.weight"] = take(f"{ros}.conv.modulation.weight")
        out[f"{nat}.affine.bias"] = take(f"{ros}.conv.modulation.bias")
        if ros.startswith("to_rgb"):
            out[f"{nat}.bias"] = take(f"{ros}.bias").reshape(-1)
        else:
            out[f"{nat}.noise_strength"] = take(f"{ros}.noise.weight").reshape(())
            out[f"{nat}.bias"] = take(f"{ros}.activate.bias")
    for j, nat in enumerate(_noise_layers(log2_res)):
        out[f"{nat}.noise_const"] = take(f"noises.noise_{j}")[0, 0]
    # Blur kernels were checked by infer_config; the native filters are buffers built from the config.
    for key, value in G.state_dict().items():
        if key.endswith("resample_filter") or key == "mapping.w_avg":
            out[key] = value
    used.update(k for k in state if k.endswith(("blur.kernel", "upsample.kernel")))
    leftover = sorted(set(state) - used)
    if leftover:
        raise CheckpointError(f"{source}: not a plain rosinality StyleGAN2 generator: unexpected weights "
                              f"{leftover[:6]}")
    return out


@torch.no_grad()
def estimate_w_avg(G: StyleGAN2Generator, num_samples: int = W_AVG_SAMPLES, seed: int = 0,
                   batch_size: int = 2000) -> torch.Tensor:
    """Mean of mapping(z) over ``num_samples`` seeded z: the W centre for checkpoints that do not store it."""
    total = torch.zeros(G.w_dim, dtype=torch.float64)
    generator = torch.Generator().manual_seed(int(seed))
    for start in range(0, num_samples, batch_size):
        z = torch.randn(min(batch_size, num_samples - start), G.z_dim, generator=generator)
        ws = G.mapping(z.to(G.device), update_w_avg=False)
        total += ws[:, 0].double().sum(dim=0).cpu()
    return (total / num_samples).float()


def generator_from_rosinality(checkpoint: dict, source: str = "checkpoint",
                              which: str = "G_ema") -> StyleGAN2Generator:
    """``StyleGAN2Generator`` from a loaded rosinality checkpoint dict (``which``: 'G_ema' or 'G')."""
    if which not in WHICH_KEYS:
        raise ValueError(f"which must be one of {tuple(WHICH_KEYS)}, got {which!r}")
    key = WHICH_KEYS[which]
    state = checkpoint.get(key)
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: rosinality checkpoint without a '{key}' state dict "
                              f"(keys {sorted(map(str, checkpoint))})")
    G = StyleGAN2Generator(**infer_config(state, source))
    load_strict(G, _native_state(state, G, source), source, "the generator its shapes describe")
    latent_avg = checkpoint.get("latent_avg")
    if latent_avg is not None:
        if not torch.is_tensor(latent_avg) or latent_avg.numel() != G.w_dim:
            raise CheckpointError(f"{source}: 'latent_avg' should hold {G.w_dim} values")
        w_avg, origin = latent_avg.reshape(-1), "latent_avg"
    else:
        w_avg, origin = estimate_w_avg(G), f"estimated: mean of mapping(z) over {W_AVG_SAMPLES} seeded z"
    G.mapping_network.w_avg.copy_(w_avg)
    G.meta = dict(source_format="rosinality", source_file=os.path.basename(source), which=which,
                  w_avg=origin)
    return G


# -- native -> rosinality ---------------------------------------------------------------------------------
_STOCK_CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}


def _stock_channel_multiplier(native: Dict[str, torch.Tensor], resolution: int) -> Optional[int]:
    """rosinality's ``channel_multiplier`` whose fixed channel table matches, or None if none does."""
    channels = {4: int(native["synthesis.b4.const"].shape[0])}
    for log2 in range(3, int(math.log2(resolution)) + 1):
        channels[2 ** log2] = int(native[f"synthesis.b{2 ** log2}.conv0.weight"].shape[0])
    for multiplier in (1, 2, 4):
        stock = {r: c if r <= 32 else c * multiplier for r, c in _STOCK_CHANNELS.items()}
        if all(stock.get(r) == c for r, c in channels.items()):
            return multiplier
    return None


def _same_filter(taps) -> bool:
    """True if ``taps`` is a multiple of [1, 3, 3, 1] (filters are normalised before use)."""
    taps = torch.tensor([float(t) for t in taps], dtype=torch.float64)
    return taps.numel() == 4 and bool(taps.sum() != 0) and torch.allclose(
        taps / taps.sum(), torch.tensor(STANDARD_FILTER, dtype=torch.float64) / 8)


def rosinality_state(G: StyleGAN2Generator) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
    """(rosinality ``g_ema`` state dict, ``latent_avg``) computing the same images as ``G``."""
    cfg = G.config
    mapping, synthesis = cfg["mapping_kwargs"], cfg["synthesis_kwargs"]
    problems = []
    if G.c_dim:
        problems.append(f"it is class-conditional (c_dim={G.c_dim})")
    if G.z_dim != G.w_dim or mapping.get("layer_features") not in (None, G.w_dim):
        problems.append("its mapping layers are not all w_dim wide (z_dim/layer_features differ)")
    if synthesis.get("architecture", "skip") != "skip":
        problems.append(f"its architecture is {synthesis.get('architecture')!r}, not 'skip'")
    if not _same_filter(synthesis.get("resample_filter", STANDARD_FILTER)):
        problems.append(f"its resample_filter {synthesis.get('resample_filter')} is not [1, 3, 3, 1]")
    if not synthesis.get("use_noise", True) or synthesis.get("kernel_size", 3) != 3 or \
            synthesis.get("activation", "lrelu") != "lrelu" or mapping.get("activation", "lrelu") != "lrelu":
        problems.append("it uses non-default layer options (use_noise/kernel_size/activation)")
    if problems:
        raise ValueError("cannot export to the rosinality layout: " + "; ".join(problems))
    if synthesis.get("conv_clamp") is not None:
        warnings.warn(f"rosinality's network has no activation clamp (conv_clamp={synthesis['conv_clamp']}): "
                      "the export differs wherever this generator's activations exceed it", stacklevel=3)
    native = {k: v.detach().cpu() for k, v in G.state_dict().items()}
    if G.channels != 3 or _stock_channel_multiplier(native, G.resolution) is None:
        warnings.warn("rosinality's stock Generator(size, style_dim, n_mlp, channel_multiplier) cannot "
                      "rebuild this layout (3 colour channels and its channel table are fixed); forks with "
                      "configurable channels can load it", stacklevel=3)

    log2_res = int(math.log2(G.resolution))
    rescale = float(mapping.get("lr_multiplier", 0.01)) / ROSINALITY_LR_MLP
    out = {}
    for i in range(mapping["num_layers"]):
        out[f"style.{i + 1}.weight"] = native[f"mapping.fc{i}.weight"] * rescale
        out[f"style.{i + 1}.bias"] = native[f"mapping.fc{i}.bias"] * rescale
    out["input.input"] = native["synthesis.b4.const"][None]
    for ros, nat in _layer_names(log2_res):
        out[f"{ros}.conv.weight"] = native[f"{nat}.weight"][None]
        out[f"{ros}.conv.modulation.weight"] = native[f"{nat}.affine.weight"]
        out[f"{ros}.conv.modulation.bias"] = native[f"{nat}.affine.bias"]
        if ros.startswith("to_rgb"):
            out[f"{ros}.bias"] = native[f"{nat}.bias"].reshape(1, -1, 1, 1)
        else:
            out[f"{ros}.noise.weight"] = native[f"{nat}.noise_strength"].reshape(1)
            out[f"{ros}.activate.bias"] = native[f"{nat}.bias"]
    for k in range(log2_res - 2):
        kernel = _standard_kernel().float()
        out[f"convs.{2 * k}.conv.blur.kernel"] = kernel.clone()
        out[f"to_rgbs.{k}.upsample.kernel"] = kernel.clone()
    for j, nat in enumerate(_noise_layers(log2_res)):
        out[f"noises.noise_{j}"] = native[f"{nat}.noise_const"][None, None]
    out = {k: v.clone().contiguous() for k, v in out.items()}
    return out, native["mapping.w_avg"].clone()


def export_rosinality(G: StyleGAN2Generator, path) -> None:
    """Write ``{'g_ema': ..., 'latent_avg': ...}`` as rosinality's converter does, for tools built on it."""
    state, latent_avg = rosinality_state(G)
    torch_save({"g_ema": state, "latent_avg": latent_avg}, path)
