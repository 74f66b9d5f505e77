"""Write a tiny rosinality/stylegan2-pytorch checkpoint and the outputs its own code computes.

The generator is rosinality's ``model.Generator`` (with a narrow channel table so the file stays small),
randomly initialised and perturbed so every weight matters, saved the way its ``convert_weight.py`` saves
(``{'g_ema': state_dict, 'latent_avg': mean W}``). Its ``op`` package compiles CUDA kernels at import; on CPU
it never calls them, so the compiler is stubbed out while importing.

    python scripts/make_rosinality_fixture.py --rosinality /path/to/stylegan2-pytorch
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
SEEDS = (0, 1, 2, 3)
PSI = 0.7
SIZE, STYLE_DIM, N_MLP = 32, 16, 3
CHANNEL_BASE, CHANNEL_MAX = 128, 16


def import_rosinality(path: Path):
    sys.path.insert(0, str(path))
    import torch.utils.cpp_extension as cpp_extension

    compile_extension = cpp_extension.load
    cpp_extension.load = lambda *args, **kwargs: None  # CPU tensors take op's pure-PyTorch paths
    try:
        import model
    finally:
        cpp_extension.load = compile_extension
    return model


def tiny_generator(model, blur_kernel=(1, 3, 3, 1)):
    """rosinality's Generator with channels min(CHANNEL_BASE / res, CHANNEL_MAX) instead of 512-wide."""

    class TinyGenerator(model.Generator):
        def __setattr__(self, name, value):
            if name == "channels":
                value = {res: min(CHANNEL_BASE // res, CHANNEL_MAX) for res in value}
            super().__setattr__(name, value)

    return TinyGenerator(SIZE, STYLE_DIM, N_MLP, blur_kernel=list(blur_kernel))


def sample_z(seed: int, z_dim: int) -> torch.Tensor:
    return torch.randn(1, z_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def build_checkpoint(model, blur_kernel=(1, 3, 3, 1)) -> dict:
    torch.manual_seed(0)
    g_ema = tiny_generator(model, blur_kernel).eval()
    for p in g_ema.parameters():  # move zero biases / noise strengths off their initial values
        p.add_(0.2 * torch.randn_like(p))
    latent_avg = g_ema.style(torch.randn(4096, STYLE_DIM, generator=torch.Generator().manual_seed(1))).mean(0)
    return {"g_ema": g_ema.state_dict(), "latent_avg": latent_avg}, g_ema


@torch.no_grad()
def expected_outputs(g_ema, latent_avg) -> dict:
    z = torch.cat([sample_z(s, STYLE_DIM) for s in SEEDS])
    img, ws = g_ema([z], randomize_noise=False, return_latents=True)
    img_psi, ws_psi = g_ema([z], randomize_noise=False, return_latents=True, truncation=PSI,
                            truncation_latent=latent_avg[None])
    zeros = [torch.zeros_like(getattr(g_ema.noises, f"noise_{i}")) for i in range(g_ema.num_layers)]
    img_none, _ = g_ema([z], noise=zeros)
    return {"seeds": torch.tensor(SEEDS), "psi": PSI, "z": z, "ws": ws, "img_const": img, "ws_psi": ws_psi,
            "img_psi": img_psi, "img_none": img_none}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rosinality", type=Path, required=True,
                        help="rosinality/stylegan2-pytorch checkout")
    parser.add_argument("--out", type=Path, default=FIXTURES / "rosinality_tiny.pt")
    args = parser.parse_args(argv)
    checkpoint, g_ema = build_checkpoint(import_rosinality(args.rosinality))
    torch.save(checkpoint, args.out)
    expected = args.out.with_name(args.out.stem + "_expected.pt")
    torch.save(expected_outputs(g_ema, checkpoint["latent_avg"]), expected)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) and {expected}")


if __name__ == "__main__":
    main()
