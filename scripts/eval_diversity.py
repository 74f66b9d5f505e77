"""Several explanations per image: how different are K paths pushed apart, against K independent restarts?

For the first N test images of a demo pair (classified as the source by the explained classifier), inverted
once, each method runs ``--paths-per-image`` K paths per image twice with the same seeded restarts: with
the diversity term at each weight of ``--weights`` (0 = independent restarts, the baseline). Reported per
method and weight:

- crossing rate (all K paths of every image), so weights are compared at equal crossing rate;
- mean pairwise distance between the K end frames of an image: RMS pixel difference, and latent L2;
- the same between the K crossing frames;
- median pixel distance to the subject at the crossing frame, of the closest path (rank 0) and of all paths.

A figure per method (OUT/diversity_<method>.png) shows, for the first images, the K paths side by side,
without and with the term (rows in rank order).

    PYTHONPATH=. python scripts/eval_diversity.py --images 8 --paths-per-image 4 --weights 0,1 \\
        --methods regularized,ascent --out runs/eval_diversity
"""
from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import torch

import generators
from cfgan.classifiers import load_classifier
from cfgan.data import images_classified_as, make_grid, save_image
from cfgan.evaluation import median
from cfgan.jobs.demo import CONFUSABLE_PAIRS as DEMO_PAIRS
from cfgan.paths import cross, invert_subjects
from cfgan.paths.outputs import enlarge


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", default="zoo:fashion-mnist")
    p.add_argument("--classifier", default="zoo:fashion-mnist")
    p.add_argument("--data", default=None)
    p.add_argument("--pair", type=int, default=0, help="index into the demo pairs")
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--paths-per-image", type=int, default=4)
    p.add_argument("--weights", default="0,1", help="diversity weights; 0 = independent restarts")
    p.add_argument("--restart-jitter", type=float, default=0.3)
    p.add_argument("--methods", default="regularized,ascent")
    p.add_argument("--invert-steps", type=int, default=200)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/eval_diversity")
    return p.parse_args(argv)


def pairwise(x: torch.Tensor) -> float:
    """Mean distance between the rows of x [K, D] (RMS over D)."""
    k = x.shape[0]
    d = ((x.unsqueeze(1) - x.unsqueeze(0)) ** 2).mean(-1).sqrt()
    return float(d.sum() / (k * (k - 1)))


def measure(res, k: int) -> dict:
    n = len(res) // k
    frames, codes = res.frames.float(), res.codes.values.reshape(len(res), res.num_frames, -1)
    end_px, end_lat, cross_px = [], [], []
    for s in range(n):
        rows = list(range(s * k, (s + 1) * k))
        end_px.append(pairwise(frames[rows, -1].flatten(1)))
        end_lat.append(pairwise(codes[rows, -1]) * codes.shape[-1] ** 0.5)  # L2, as the reports' latent distance
        if all(bool(res.crossed[i]) for i in rows):
            cross_px.append(pairwise(torch.stack([frames[i, res.crossing_index[i]].flatten() for i in rows])))
    at = res.at_crossing("pixel")
    return {"paths": len(res), "crossed": int(res.crossed.sum()), "crossing_rate": float(res.crossed.float().mean()),
            "monotone": int(res.monotone.sum()),
            "end_frames_pairwise_rms_pixel": sum(end_px) / n, "end_frames_pairwise_latent_l2": sum(end_lat) / n,
            "crossing_frames_pairwise_rms_pixel": (sum(cross_px) / len(cross_px)) if cross_px else None,
            "median_identity_at_crossing_pixel_rank0": median([at[i] for i in range(len(res)) if res.ranks[i] == 0]),
            "median_identity_at_crossing_pixel_all": median(at),
            "generator_evals_per_path": float(res.generator_evals.float().mean())}


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", UserWarning)
    os.makedirs(args.out, exist_ok=True)
    G = generators.load(args.generator)
    clf = load_classifier(args.classifier)
    src_name, dst_name = DEMO_PAIRS[args.pair]
    src, dst = clf.class_index(src_name), clf.class_index(dst_name)
    images, test_idx, _, _ = images_classified_as(clf, src, args.images, root=args.data)
    proj = invert_subjects(G, clf, images, "w+", args.invert_steps, seed=args.seed)
    k = args.paths_per_image
    weights = [float(w) for w in args.weights.split(",")]
    report = {"settings": vars(args), "pair": [src_name, dst_name], "test_indices": test_idx, "methods": {}}
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        rows, shown = {}, []
        for w in weights:
            t0 = time.perf_counter()
            res = cross(G, clf, proj.code, dst, src, method=method, frames=args.frames, reference=images,
                        paths_per_image=k, diversity=w, restart_jitter=args.restart_jitter, seed=args.seed,
                        lpips=False)
            row = measure(res, k)
            row["seconds_per_path"] = (time.perf_counter() - t0) / len(res)
            rows[str(w)] = row
            print(f"{method:12s} diversity {w:5.2f}: {json.dumps(row)}", flush=True)
            for s in range(min(2, len(images))):
                mine = sorted(range(s * k, (s + 1) * k), key=lambda i: res.ranks[i])
                shown.append(torch.cat([res.frames[i] for i in mine]))
        report["methods"][method] = rows
        grid = make_grid(enlarge(torch.cat(shown).float(), 48), nrow=args.frames, padding=3)
        save_image(grid, os.path.join(args.out, f"diversity_{method}.png"))
    with open(os.path.join(args.out, "eval_diversity.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
