"""Inversion quality on the bundled models: known-latent recovery and real test images (W, W+, PTI).

    python scripts/eval_inversion.py --generator zoo:fashion-mnist --classifier zoo:fashion-mnist \
        --real 100 --steps 500 --out runs/eval-inversion

1. Known latents: images generated from seeded z (constant noise) are projected into W+ with noise
   maps; mean PSNR shows whether the optimiser finds them again.
2. Real images: the first N test images, projected into W and into W+, each with and without
   pivotal tuning. PSNR and LPIPS per image (LPIPS with a seeded random backbone where the ImageNet
   weights are missing: labelled as such, comparable between rows, not the published metric).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import generators  # noqa: E402
from cfgan.classifiers import load_classifier  # noqa: E402
from cfgan.data import load_fashion_mnist, make_grid, save_image, to_model_range  # noqa: E402
from inversion import lpips_available, project, reconstruction_metrics  # noqa: E402
from inversion.metrics import summarize  # noqa: E402


def run(G, target, batch, random_lpips, **kw):
    """Project in batches; returns summary metrics and reconstructions."""
    metrics, recons = {}, []
    for start in range(0, target.shape[0], batch):
        res = project(G, target[start:start + batch], **kw)
        recon = res.images
        m = reconstruction_metrics(recon, target[start:start + batch], lpips_random_backbone=random_lpips)
        for k, v in m.items():
            metrics.setdefault(k, []).extend(v)
        recons.append(recon.cpu())
    return summarize(metrics), torch.cat(recons)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generator", default="zoo:fashion-mnist")
    p.add_argument("--classifier", default="zoo:fashion-mnist")
    p.add_argument("--known", type=int, default=32)
    p.add_argument("--real", type=int, default=100)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--pti-steps", type=int, default=350)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--data", default=None)
    p.add_argument("--out", default="runs/eval-inversion")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    G = generators.load(args.generator)
    clf = load_classifier(args.classifier)
    random_lpips = not lpips_available("vgg")
    results = {"settings": vars(args), "lpips": "random-backbone (no ImageNet weights)" if random_lpips
               else "vgg (ImageNet)"}
    losses = {"mse": 1.0, "features": 0.5}
    t = time.time()
    known = G.sample(args.known, seed=2024)
    summary, recon = run(G, known, args.batch, random_lpips, space="w+", steps=args.steps, noise=True,
                         losses=losses, features=clf.features)
    results["known_latents_wplus_noise"] = summary
    save_image(make_grid(torch.cat([known[:16].cpu(), recon[:16]]), nrow=16), os.path.join(args.out, "known.png"))
    print(f"known latents, W+ + noise: {summary} ({time.time() - t:.0f} s)", flush=True)

    images, _ = load_fashion_mnist("test", root=args.data, pad_to=G.resolution)
    real = to_model_range(images[:args.real]).float()
    for space in ("w", "w+"):
        for pti in (False, True):
            t = time.time()
            summary, recon = run(G, real, args.batch, random_lpips, space=space, steps=args.steps, losses=losses,
                                 features=clf.features, pti=pti, pti_steps=args.pti_steps)
            key = f"real_{space}{'_pti' if pti else ''}"
            results[key] = dict(summary, seconds=time.time() - t)
            save_image(make_grid(torch.cat([real[:16], recon[:16]]), nrow=16), os.path.join(args.out, f"{key}.png"))
            print(f"{key}: {results[key]}", flush=True)
            with open(os.path.join(args.out, "metrics.json"), "w") as f:
                json.dump(results, f, indent=2)
    for space in ("w", "w+"):
        gain = results[f"real_{space}_pti"]["psnr"] - results[f"real_{space}"]["psnr"]
        print(f"PTI gain in {space}: {gain:+.2f} dB")


if __name__ == "__main__":
    main()
