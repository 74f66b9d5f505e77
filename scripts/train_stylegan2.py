"""Train cfgan's StyleGAN2 on Fashion-MNIST (32x32 grayscale) from scratch.

The command line of ``generators.stylegan2.training``, which holds the recipe (non-saturating logistic
loss, lazy R1, style mixing, EMA generator with ramp-up, optional path-length regularisation) and the
run logic. This script adds the data set and the sample grids.

Runs are time-boxable (``--minutes``) and resumable (``--resume``): ``<outdir>/checkpoint.pt`` holds G, D,
G_ema, optimiser and RNG states and is rewritten atomically every ``--snapshot-minutes`` and on
SIGINT/SIGTERM. The result, ``<outdir>/final.pt``, is the EMA generator alone in the native
``generators.save`` format.

    python scripts/train_stylegan2.py --config gpu --kimg 5000 --minutes 6 --outdir runs/fmnist-gpu
    python scripts/train_stylegan2.py --config cpu --kimg 200 --outdir runs/fmnist-cpu --resume
"""
from __future__ import annotations

import argparse
import sys

import torch

from cfgan.data import load_fashion_mnist, make_grid, save_image
from generators.stylegan2 import training

DATASET = "fashion-mnist (train split, padded to 32x32)"


def parse_args(argv=None):
    """(options, names of the options given explicitly on the command line)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=sorted(training.PRESETS), help="hyper-parameter preset (default cpu)")
    p.add_argument("--outdir", required=True, help="run folder (checkpoint, logs, samples, final.pt)")
    p.add_argument("--data", default=None, help="folder with the Fashion-MNIST IDX files "
                   "(default /usr/share/datasets/fashion-mnist)")
    p.add_argument("--kimg", type=float, default=None, help="stop after this many thousand real images")
    p.add_argument("--minutes", type=float, default=None, help="stop after this much wall time (counted "
                   "from start-up, set-up and kernel compilation included); the final files follow")
    p.add_argument("--resume", action="store_true", help="continue from <outdir>/checkpoint.pt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="'cuda' or 'cpu' (default: cuda when available)")
    p.add_argument("--snapshot-minutes", type=float, default=2.0, help="checkpoint every N minutes")
    p.add_argument("--snapshot-steps", type=int, default=0, help="also checkpoint every N steps (0 = off)")
    p.add_argument("--log-every", type=int, default=100, help="log every N steps (each log syncs the GPU)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's "
                   "choice; 1 is much faster on a busy machine)")
    # Hyper-parameters (default: the preset's value).
    p.add_argument("--z-dim", type=int)
    p.add_argument("--w-dim", type=int)
    p.add_argument("--map-layers", type=int)
    p.add_argument("--map-lr-mult", type=float, help="mapping network lr multiplier (official 0.01)")
    p.add_argument("--channel-base", type=int, help="channels at resolution r = min(base // r, max)")
    p.add_argument("--channel-max", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--mbstd-group", type=int, help="minibatch-std group size (must divide --batch)")
    p.add_argument("--lr", type=float)
    p.add_argument("--r1-gamma", type=float, help="R1 weight (0 disables R1)")
    p.add_argument("--r1-interval", type=int, help="lazy R1: every N steps")
    p.add_argument("--pl-weight", type=float, help="path-length regularisation weight (0 = off, official 2)")
    p.add_argument("--pl-interval", type=int, help="lazy path-length regularisation: every N steps")
    p.add_argument("--style-mixing", type=float, help="style-mixing probability (0 disables)")
    p.add_argument("--ema-kimg", type=float, help="EMA half-life in thousands of images")
    p.add_argument("--ema-rampup", type=float, help="EMA ramp-up: half-life <= rampup * images seen "
                   "(negative disables)")
    p.add_argument("--xflip", action=argparse.BooleanOptionalAction, default=None,
                   help="random left-right flips of the real images")
    p.add_argument("--g-arch", choices=["orig", "skip", "resnet"])
    p.add_argument("--d-arch", choices=["orig", "skip", "resnet"])
    p.add_argument("--num-fp16-res", type=int, help="float16 for the N highest resolutions (CUDA only)")
    p.add_argument("--conv-clamp", type=float, help="clamp conv outputs to +-X (official 256 with fp16)")
    args = vars(p.parse_args(argv))
    explicit = {k for k, v in args.items() if v is not None and k not in training.RUN_CONTROL}
    args["config"] = args["config"] or "cpu"
    options = training.options_for(args["config"])
    options.update({k: v for k, v in args.items() if v is not None or k not in options})
    return options, explicit


@torch.no_grad()
def write_samples(G, path) -> None:
    """8x8 samples of fixed z (seed ``training.GRID_SEED``), psi=1, constant noise."""
    save_image(make_grid(G.sample(64, seed=training.GRID_SEED).cpu(), nrow=8), path)


def main(argv=None) -> dict:
    """Train; returns the run's summary (also written to ``<outdir>/provenance.json``)."""
    options, explicit = parse_args(argv)
    try:
        images, _ = load_fashion_mnist("train", root=options["data"], pad_to=32)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"train_stylegan2: cannot load the training data: {err}") from err
    command = "python scripts/train_stylegan2.py " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        return training.run(options, images, explicit=explicit, command=command, dataset=DATASET,
                            write_samples=write_samples)
    except training.TrainingSetupError as err:
        raise SystemExit(f"train_stylegan2: {err}") from err


if __name__ == "__main__":
    main()
