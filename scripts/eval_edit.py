"""Measure latent edits and the surrogate on the bundled models.

1. Boundaries: held-out accuracy of linear SVMs fitted in W on ``--samples`` generated samples labelled by
   the classifier (Sneaker->Sandal, Pullover->Coat, and Sandal / Coat against the rest).
2. Crossing: for ``--seeds-per-pair`` seeds the classifier assigns to the source class (seeds scanned from
   ``--first-seed`` on), the fraction of edited images classified as the target at each strength, the
   fraction that cross at some strength (first crossing, refined), and the median crossing strength, for the
   class-gradient direction and the fitted pairwise boundary (W codes, every layer).
3. Surrogate: held-out fidelity by depth (1-6) of trees over PCA components and over per-class boundaries,
   next to the majority baseline; ``--figure-dir`` gets a tree figure of depth ``--figure-depth`` per kind.
Writes ``--out/metrics.json``.

    PYTHONPATH=. python scripts/eval_edit.py --out runs/eval-edit               # ~6 min on 2 busy cores
"""
from __future__ import annotations

import argparse
import os
import time

import torch

import generators
from cfgan.classifiers import load_classifier
from cfgan.edit import class_direction, edit_codes, evaluate_edit, fit_boundary, labelled_samples, parse_strengths
from cfgan.surrogate import fit_surrogate, run_surrogate, surrogate_directions
from generators.files import write_json
from inversion import LatentCode

PAIRS = (("Sneaker", "Sandal"), ("Pullover", "Coat"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--generator", default="zoo:fashion-mnist")
    p.add_argument("--classifier", default="zoo:fashion-mnist")
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds-per-pair", type=int, default=100)
    p.add_argument("--first-seed", type=int, default=100000)
    p.add_argument("--strengths", default="0.25:3:12")
    p.add_argument("--refine", type=int, default=6)
    p.add_argument("--pca-k", type=int, default=8)
    p.add_argument("--figure-dir", default=None, help="write a surrogate run (tree.png, strips) per kind here")
    p.add_argument("--figure-depth", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def source_seeds(G, clf, source: str, n: int, first: int):
    """The first ``n`` seeds from ``first`` on whose sample the classifier assigns to ``source``."""
    k, seeds, s = clf.class_index(source), [], first
    with torch.no_grad():
        while len(seeds) < n:
            chunk = list(range(s, s + 256))
            pred = clf(LatentCode.from_seeds(G, chunk, "w").render(G)).argmax(1).tolist()
            seeds += [c for c, p in zip(chunk, pred) if p == k]
            s += 256
    return seeds[:n], s - first


def crossing_stats(G, clf, code, direction, strengths, refine):
    report = evaluate_edit(G, clf, edit_codes(G, code, direction, strengths), refine=refine)
    reached = report.reached().float().mean(0)
    crossed = [c for c in report.crossing if c is not None]
    return {"reached_fraction_by_strength": {f"{s:g}": round(float(r), 4) for s, r in zip(strengths, reached)},
            "crossed_fraction": len(crossed) / len(report.crossing),
            "median_crossing_strength": float(torch.tensor(crossed).median()) if crossed else None,
            "already_target": int(report.already_target.sum())}


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    G = generators.load(args.generator)
    clf = load_classifier(args.classifier)
    strengths = parse_strengths(args.strengths)
    metrics = {"settings": vars(args), "strengths": strengths}
    t0 = time.perf_counter()
    samples = labelled_samples(G, clf, args.samples, args.seed)
    metrics["samples"] = {"n": len(samples), "counts": samples.class_counts(), "seconds": time.perf_counter() - t0}
    print(f"{len(samples)} samples in {metrics['samples']['seconds']:.0f} s: {samples.class_counts()}", flush=True)

    metrics["boundaries"] = {}
    boundaries = {}
    for negative, positive in PAIRS + (("rest", "Sandal"), ("rest", "Coat")):
        d = fit_boundary(samples, positive, None if negative == "rest" else negative, clf, seed=args.seed)
        boundaries[(negative, positive)] = d
        keys = ("held_out_accuracy", "held_out_balanced_accuracy", "train_accuracy", "n_positive", "n_negative",
                "n_held_out")
        metrics["boundaries"][d.name] = {k: d.provenance[k] for k in keys}
        print(f"{d.name}: held-out accuracy {d.provenance['held_out_accuracy']:.3f} (balanced "
              f"{d.provenance['held_out_balanced_accuracy']:.3f}, train {d.provenance['train_accuracy']:.3f}; "
              f"{d.provenance['n_positive']} vs {d.provenance['n_negative']} samples)", flush=True)

    metrics["crossing"] = {}
    for source, target in PAIRS:
        seeds, scanned = source_seeds(G, clf, source, args.seeds_per_pair, args.first_seed)
        code = LatentCode.from_seeds(G, seeds, "w")
        entry = {"seeds": len(seeds), "scanned": scanned}
        for name, d in (("class", class_direction(G, clf, code, target)),
                        ("boundary", boundaries[(source, target)])):
            entry[name] = crossing_stats(G, clf, code, d, strengths, args.refine)
            print(f"{source}->{target} {name}: crossed {entry[name]['crossed_fraction']:.2f}, median strength "
                  f"{entry[name]['median_crossing_strength']}, by strength "
                  f"{entry[name]['reached_fraction_by_strength']}", flush=True)
        metrics["crossing"][f"{source}->{target}"] = entry

    metrics["surrogate"] = {}
    train, test = samples.split(0.25, args.seed)
    for kind in ("pca", "boundary"):
        feats = surrogate_directions(G, kind, args.pca_k, samples, train, clf, args.seed)
        s = fit_surrogate(samples, feats, depth=4, depths=(1, 2, 3, 4, 5, 6), seed=args.seed, train=train, test=test)
        metrics["surrogate"][kind] = {"features": [d.name for d in feats], "baseline": s.baseline,
                                      "fidelity_by_depth": {str(k): v for k, v in sorted(s.fidelity.items())}}
        print(f"surrogate over {kind} ({len(feats)} directions): held-out fidelity "
              + ", ".join(f"d{k} {v['held_out']:.3f}" for k, v in sorted(s.fidelity.items()))
              + f" (majority baseline {s.baseline:.3f})", flush=True)
        if args.figure_dir:
            run_surrogate(G, clf, os.path.join(args.figure_dir, kind), directions=kind, overwrite=True,
                          k=args.pca_k, depth=args.figure_depth, samples=samples, seed=args.seed)
    metrics["seconds"] = time.perf_counter() - t0
    write_json(os.path.join(args.out, "metrics.json"), metrics)
    print(f"done in {metrics['seconds']:.0f} s; {os.path.join(args.out, 'metrics.json')}")


if __name__ == "__main__":
    main()
