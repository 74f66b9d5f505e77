"""Explore the generator's principal directions for a few seeds, and see which ones change the
classifier's mind.

An example of an edit scripted with the ``cfgan.edit`` API (GANSpace-style). For each of the first
``--components`` principal components of W, every seed is moved along it at each ``--strengths`` on
``--layers``; one labelled grid per component (a row per seed, predicted class and probability under each
frame) goes to ``--out/pca_K.png``, and ``--out/summary.json`` says, per component, how many seeds change
class at the extreme strengths and into what.

    PYTHONPATH=. python scripts/example_pca_explore.py --out runs/pca-explore          # ~20 s on one core
    PYTHONPATH=. python scripts/example_pca_explore.py --out runs/pca-coarse --layers coarse --seeds 0-7
"""
from __future__ import annotations

import argparse
import os
from collections import Counter

import torch

import generators
from cfgan.classifiers import load_classifier
from cfgan.edit import edit_codes, evaluate_edit, pca_directions
from cfgan.edit.outputs import write_labelled_grid
from generators.files import write_json
from inversion import LatentCode


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--generator", default="zoo:fashion-mnist")
    p.add_argument("--classifier", default="zoo:fashion-mnist")
    p.add_argument("--seeds", default="0-5", help="like 0-5 or 1,4,9")
    p.add_argument("--components", type=int, default=4)
    p.add_argument("--strengths", default="-3:3:7")
    p.add_argument("--layers", default="all")
    p.add_argument("--pca-samples", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0, help="seed of the PCA samples")
    return p.parse_args(argv)


def seed_list(text: str):
    out = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv=None) -> dict:
    args = parse_args(argv)
    G = generators.load(args.generator)
    clf = load_classifier(args.classifier)
    seeds = seed_list(args.seeds)
    code = LatentCode.from_seeds(G, seeds, "w")
    names = [f"seed{s}" for s in seeds]
    summary = {"seeds": seeds, "layers": args.layers, "components": []}
    for d in pca_directions(G, args.components, n=args.pca_samples, seed=args.seed):
        edit = edit_codes(G, code, d, args.strengths, layers=args.layers)
        report = evaluate_edit(G, clf, edit, refine=0)
        start = report.start_predicted
        ends = {}
        for side, j in (("low", 0), ("high", edit.num_strengths - 1)):
            changed = report.predicted[:, j] != start
            ends[side] = {"strength": edit.strengths[j], "changed": int(changed.sum()),
                          "into": dict(Counter(clf.class_name(int(k)) for k in report.predicted[changed, j]))}
        k = d.provenance["component"]
        path = os.path.join(args.out, f"pca_{k}.png")
        write_labelled_grid(path, report, edit.strengths, names, clf.class_names,
                            f"{d.name} ({d.provenance['explained_variance_ratio']:.1%} of W's variance), "
                            f"layers {args.layers}", rows=len(seeds))
        summary["components"].append({"direction": d.describe(), "grid": path, **ends})
        print(f"{d.name}: {ends['low']['changed']}/{len(seeds)} seeds change class at {ends['low']['strength']:+g}"
              f" sigma, {ends['high']['changed']}/{len(seeds)} at {ends['high']['strength']:+g}")
    write_json(os.path.join(args.out, "summary.json"), summary)
    return summary


if __name__ == "__main__":
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
    main()
