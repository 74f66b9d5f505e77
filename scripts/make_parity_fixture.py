"""Write tests/fixtures/official_tiny.pt: outputs of the official StyleGAN2-ADA generator for tiny configs.

The official code is not part of this repository; point ``--official`` at a checkout of
https://github.com/NVlabs/stylegan2-ada-pytorch. For each config the script builds the official
``training.networks.Generator`` on CPU, perturbs every parameter and buffer (fresh networks have zero
biases and noise strengths, which would hide errors), and records its state dict, inputs and outputs as
plain tensors, so ``tests/test_stylegan2.py`` can check ``StyleGAN2Generator`` against it with
``torch.load(weights_only=True)``.

    python scripts/make_parity_fixture.py --official /path/to/stylegan2-ada-pytorch
"""
from __future__ import annotations

import argparse
import os
import sys
import types

import torch

TRUNCATION_PSI = 0.7
BATCH = 3

#: Small enough to keep the fixture well under 1.5 MB, varied enough to reach every code path.
CONFIGS = {
    "skip_uncond_rgb32": dict(
        z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3,
        mapping_kwargs=dict(num_layers=2),
        synthesis_kwargs=dict(channel_base=256, channel_max=16, architecture="skip", num_fp16_res=2,
                              conv_clamp=256)),
    "resnet_cond10_gray16": dict(
        z_dim=16, c_dim=10, w_dim=16, img_resolution=16, img_channels=1,
        mapping_kwargs=dict(num_layers=3, embed_features=8, layer_features=24),
        synthesis_kwargs=dict(channel_base=128, channel_max=16, architecture="resnet")),
    "orig_uncond_rgb16": dict(
        z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
        mapping_kwargs=dict(num_layers=2),
        synthesis_kwargs=dict(channel_base=128, channel_max=16, architecture="orig")),
}


def import_official_networks(path: str):
    """``training.networks`` from an official checkout (its ``dnnlib`` imports ``requests`` only to
    download files, so an empty stand-in is enough when it is not installed)."""
    if not os.path.isfile(os.path.join(path, "training", "networks.py")):
        raise SystemExit(f"--official {path!r}: no training/networks.py there; expected a checkout of "
                         "NVlabs/stylegan2-ada-pytorch")
    try:
        import requests  # noqa: F401
    except ImportError:
        sys.modules["requests"] = types.ModuleType("requests")
    sys.path.insert(0, os.path.abspath(path))
    from training import networks
    return networks


@torch.no_grad()
def perturb_(module: torch.nn.Module, seed: int) -> None:
    """Make every learned quantity non-trivial (the FIR filters stay as they are)."""
    g = torch.Generator().manual_seed(seed)
    for name, t in module.state_dict().items():
        if name.endswith("resample_filter"):
            continue
        t.add_(0.2 * torch.randn(t.shape, generator=g))


@torch.no_grad()
def official_case(networks, config: dict, seed: int = 0) -> dict:
    """Inputs, state dict and outputs of the official generator for one config."""
    torch.manual_seed(seed)
    G = networks.Generator(**config).eval()
    perturb_(G, seed + 1)
    g = torch.Generator().manual_seed(seed + 2)
    z = torch.randn([BATCH, config["z_dim"]], generator=g)
    c = None
    if config["c_dim"]:
        labels = torch.arange(BATCH) % config["c_dim"]
        c = torch.nn.functional.one_hot(labels, config["c_dim"]).float()
    c_in = c if c is not None else torch.zeros([BATCH, 0])
    cutoff = G.num_ws // 2
    ws = G.mapping(z, c_in)
    ws_trunc = G.mapping(z, c_in, truncation_psi=TRUNCATION_PSI, truncation_cutoff=cutoff)
    synth = dict(force_fp32=True)
    return dict(
        config=config, state_dict={k: v.clone() for k, v in G.state_dict().items()}, z=z, c=c,
        truncation_psi=TRUNCATION_PSI, truncation_cutoff=cutoff, ws=ws, ws_trunc=ws_trunc,
        img_const=G.synthesis(ws, noise_mode="const", **synth),
        img_trunc=G.synthesis(ws_trunc, noise_mode="const", **synth),
        img_none=G.synthesis(ws, noise_mode="none", **synth),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True, help="path to a stylegan2-ada-pytorch checkout")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures",
                                                      "official_tiny.pt"))
    args = parser.parse_args()
    networks = import_official_networks(args.official)
    cases = {name: official_case(networks, config, seed=i)
             for i, (name, config) in enumerate(CONFIGS.items())}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(dict(format=1, source="NVlabs/stylegan2-ada-pytorch training.networks.Generator", cases=cases),
               args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB, {len(cases)} cases)")


if __name__ == "__main__":
    main()
