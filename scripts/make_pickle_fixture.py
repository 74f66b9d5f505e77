"""Write tiny official StyleGAN network pickles and the outputs they must produce.

The pickles are made by the official code itself, exactly as its training loop writes snapshots
(``pickle.dump(dict(training_set_kwargs, G, D, G_ema, augment_pipe))`` of deep-copied eval-mode networks);
the expected images/ws come from the official networks. Tests then check that ``generators.loaders``
reproduces them without running any of the pickled code.

    python scripts/make_pickle_fixture.py --official /path/to/stylegan2-ada-pytorch
        -> tests/fixtures/official_tiny_snapshot.pkl (+ _expected.pt)
    python scripts/make_pickle_fixture.py --official /path/to/stylegan3
        -> official_tiny_snapshot_sg3repo.pkl (+ _expected.pt): that repo's StyleGAN2, flat kwargs
           and its conv_clamp=256 default; official_tiny_snapshot_stylegan3.pkl: a StyleGAN3 generator
           (which the loader must refuse).
"""
from __future__ import annotations

import argparse
import copy
import pickle
import sys
import types
from pathlib import Path

import torch

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
SEEDS = (0, 1, 2, 3)
PSI = 0.7


def import_official(path: Path):
    """dnnlib from a checkout at ``path``, stubbing modules imported only to download / compare versions."""
    sys.path.insert(0, str(path))
    if "requests" not in sys.modules:
        try:
            import requests  # noqa: F401
        except ImportError:
            sys.modules["requests"] = types.ModuleType("requests")
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        from packaging.version import parse

        sys.modules["pkg_resources"] = types.SimpleNamespace(parse_version=parse)
    import dnnlib

    return dnnlib


def sample_z(seed: int, z_dim: int) -> torch.Tensor:
    return torch.randn(1, z_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def train_like(G, update_w_avg) -> None:
    """Move every parameter off its initial value (zero biases and noise strengths included) and let the
    mapping track w_avg, so the fixture exercises all of them."""
    for p in G.parameters():
        p.add_(0.2 * torch.randn_like(p))
    for _ in range(20):
        update_w_avg(G, torch.randn(64, G.z_dim))


def snapshot_of(G, D, augment_pipe, dnnlib) -> dict:
    G_ema = copy.deepcopy(G).eval()
    with torch.no_grad():
        for p in G.parameters():  # G keeps training after the EMA copy: the two differ
            p.add_(0.05 * torch.randn_like(p))
    training_set_kwargs = dnnlib.EasyDict(class_name="training.dataset.ImageFolderDataset", path="tiny.zip",
                                          use_labels=False, max_size=8, xflip=False, resolution=32)
    snapshot = dict(training_set_kwargs=dict(training_set_kwargs))
    for name, module in [("G", G), ("D", D), ("G_ema", G_ema), ("augment_pipe", augment_pipe)]:
        if module is not None:
            module = copy.deepcopy(module).eval().requires_grad_(False).cpu()
        snapshot[name] = module
    return snapshot


def ada_snapshot(dnnlib) -> dict:
    """stylegan2-ada-pytorch: nested mapping/synthesis kwargs, with D and an augmentation pipe."""
    torch.manual_seed(0)
    synthesis = dnnlib.EasyDict(channel_base=128, channel_max=16, num_fp16_res=2, conv_clamp=256)
    G_kwargs = dnnlib.EasyDict(class_name="training.networks.Generator", z_dim=16, w_dim=16,
                               mapping_kwargs=dnnlib.EasyDict(num_layers=2), synthesis_kwargs=synthesis)
    D_kwargs = dnnlib.EasyDict(class_name="training.networks.Discriminator", channel_base=64, channel_max=8,
                               num_fp16_res=2, conv_clamp=256, block_kwargs=dnnlib.EasyDict(),
                               mapping_kwargs=dnnlib.EasyDict(),
                               epilogue_kwargs=dnnlib.EasyDict(mbstd_group_size=4))
    common = dict(c_dim=0, img_resolution=32, img_channels=1)
    G = dnnlib.util.construct_class_by_name(**G_kwargs, **common).train().requires_grad_(False)
    D = dnnlib.util.construct_class_by_name(**D_kwargs, **common).train().requires_grad_(False)
    augment_pipe = dnnlib.util.construct_class_by_name(class_name="training.augment.AugmentPipe", xflip=1,
                                                      rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                                                      brightness=1, contrast=1, lumaflip=1, hue=1,
                                                      saturation=1).train().requires_grad_(False)
    train_like(G, lambda G, z: G.mapping(z, None))
    return snapshot_of(G, D, augment_pipe, dnnlib)


def sg3repo_snapshot(dnnlib) -> dict:
    """The stylegan3 repo's StyleGAN2 as its train.py builds it: flat synthesis kwargs, conv_clamp left at
    that repo's default (256), class-conditional; a constant large enough that the clamp matters."""
    torch.manual_seed(1)
    G_kwargs = dnnlib.EasyDict(class_name="training.networks_stylegan2.Generator", z_dim=16, w_dim=16,
                               mapping_kwargs=dnnlib.EasyDict(num_layers=2), channel_base=128, channel_max=16,
                               num_fp16_res=2, fused_modconv_default="inference_only")
    G = dnnlib.util.construct_class_by_name(**G_kwargs, c_dim=2, img_resolution=16, img_channels=3)
    G = G.train().requires_grad_(False)
    train_like(G, lambda G, z: G.mapping(z, torch.eye(2)[torch.arange(len(z)) % 2], update_emas=True))
    with torch.no_grad():
        G.synthesis.b4.const.mul_(300)
    return snapshot_of(G, None, None, dnnlib)


def stylegan3_snapshot(dnnlib) -> dict:
    torch.manual_seed(2)
    G_kwargs = dnnlib.EasyDict(class_name="training.networks_stylegan3.Generator", z_dim=8, w_dim=8,
                               mapping_kwargs=dnnlib.EasyDict(num_layers=1), channel_base=256, channel_max=16,
                               magnitude_ema_beta=0.99, num_layers=4)
    G = dnnlib.util.construct_class_by_name(**G_kwargs, c_dim=0, img_resolution=16, img_channels=3)
    return {"G_ema": copy.deepcopy(G).eval().requires_grad_(False)}


@torch.no_grad()
def expected_outputs(snapshot: dict) -> dict:
    out = {"seeds": torch.tensor(SEEDS), "psi": PSI}
    for name in ("G_ema", "G"):
        G = snapshot[name]
        z = torch.cat([sample_z(s, G.z_dim) for s in SEEDS])
        c = torch.eye(G.c_dim)[torch.arange(len(SEEDS)) % G.c_dim] if G.c_dim else None
        ws = G.mapping(z, c)
        out[f"{name}.z"] = z
        out[f"{name}.c"] = c if c is not None else torch.zeros(len(SEEDS), 0)
        out[f"{name}.ws"] = ws
        out[f"{name}.ws_psi"] = G.mapping(z, c, truncation_psi=PSI)
        out[f"{name}.img_const"] = G.synthesis(ws, noise_mode="const", force_fp32=True)
        out[f"{name}.img_none"] = G.synthesis(ws, noise_mode="none", force_fp32=True)
        out[f"{name}.w_avg"] = G.mapping.w_avg.clone()
    return out


def write(snapshot: dict, path: Path, with_expected: bool = True) -> None:
    with open(path, "wb") as f:
        pickle.dump(snapshot, f)
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    if with_expected:
        expected = path.with_name(path.stem + "_expected.pt")
        torch.save(expected_outputs(snapshot), expected)
        print(f"wrote {expected}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True,
                        help="a stylegan2-ada-pytorch or stylegan3 checkout")
    parser.add_argument("--out-dir", type=Path, default=FIXTURES)
    args = parser.parse_args(argv)
    dnnlib = import_official(args.official)
    if (args.official / "training" / "networks_stylegan3.py").is_file():
        write(sg3repo_snapshot(dnnlib), args.out_dir / "official_tiny_snapshot_sg3repo.pkl")
        write(stylegan3_snapshot(dnnlib), args.out_dir / "official_tiny_snapshot_stylegan3.pkl", False)
    else:
        write(ada_snapshot(dnnlib), args.out_dir / "official_tiny_snapshot.pkl")


if __name__ == "__main__":
    main()
