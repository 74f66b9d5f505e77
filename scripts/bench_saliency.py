"""Seconds per image of every saliency method with its default options, on the bundled 32x32 samples.

    OMP_NUM_THREADS=1 python scripts/bench_saliency.py --images 3 --out saliency-seconds.json

Each image is explained alone (batch of one, one torch thread), so the numbers are what one explanation
costs; batches amortise part of it. The GAN in-fill bank is rendered once per method object and counted in
the first image only (it is shared by all later ones), as in a run over many images.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

import generators
from cfgan.classifiers import load_classifier
from cfgan.data import load_image
from cfgan.saliency import METHODS, make_method
from cfgan.zoo import zoo_samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    G = generators.load("zoo:fashion-mnist").eval().requires_grad_(False)
    clf = load_classifier("zoo:fashion-mnist")
    samples = zoo_samples()[::max(1, len(zoo_samples()) // args.images)][:args.images]
    setups = [(name, {}) for name in args.methods]
    if "fido" in args.methods:
        setups += [("fido", dict(objective="sdr")), ("fido", dict(infill="blur"))]
    rows = []
    for name, options in setups:
        method = make_method(name, clf, generator=G, seed=0, **options)
        times = []
        for s in samples:
            x = load_image(s.path)[None]
            t0 = time.perf_counter()
            method.attribute(x, target=s.label)
            times.append(time.perf_counter() - t0)
        label = name + "".join(f" {k}={v}" for k, v in options.items())
        rows.append(dict(method=label, seconds=times, median=statistics.median(times)))
        print(f"{label:28s} median {statistics.median(times):7.2f} s/image  (each: "
              f"{', '.join(f'{t:.2f}' for t in times)})", flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(dict(threads=1, images=[s.path.name for s in samples], methods=rows), fh, indent=2)


if __name__ == "__main__":
    main()
