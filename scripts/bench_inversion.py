"""Inversion throughput at batch 1, 4 and 16 (same steps per image), printed as ratios in one run.

    python scripts/bench_inversion.py --generator zoo:fashion-mnist --steps 50

Each configuration inverts the same 16 images: batch 1 runs 16 projections one after another, batch
16 runs one. A batch is N independent optimisations, so images per second should grow with the
batch until the hardware is saturated.
"""
from __future__ import annotations

import argparse
import time

import torch

import generators
from inversion import project


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generator", default="zoo:fashion-mnist")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--images", type=int, default=16)
    p.add_argument("--batches", default="1,4,16")
    p.add_argument("--space", default="w+")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    G = generators.load(args.generator, device=args.device)
    target = G.sample(args.images, seed=1234)
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        project(G, target[:batch], space=args.space, steps=2, losses={"mse": 1.0})  # warm-up
        t = time.perf_counter()
        for start in range(0, args.images, batch):
            project(G, target[start:start + batch], space=args.space, steps=args.steps, losses={"mse": 1.0})
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        rows.append((batch, args.images / (time.perf_counter() - t)))
    base = rows[0][1]
    print(f"inversion into {args.space}, {args.steps} steps, {args.images} images, {args.device}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'batch':>5} {'images/s':>10} {'per-image speed vs batch 1':>28}")
    for batch, ips in rows:
        print(f"{batch:>5} {ips:10.3f} {ips / base:27.2f}x")


if __name__ == "__main__":
    main()
