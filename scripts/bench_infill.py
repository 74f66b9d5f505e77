"""How good and how fast is each in-filler for FIDO? Real Fashion-MNIST test images, seeded random coarse
masks dropping about half of each image; the error is measured on the dropped pixels only.

    OMP_NUM_THREADS=1 python scripts/bench_infill.py --images 32 --out infill-bench.json

For each in-filler: RMSE on the dropped pixels against the true image, the zoo classifier's accuracy on the
in-filled images (does the in-fill keep the image what it was?), and seconds per in-fill (one image, one
mask) inside the loop, and the one-off preparation (the prior bank is rendered once for all images;
the image bank projects every image once). ``gan`` (prior bank, the default) and
``gan-image`` (bank around the image's projection) are the amortised in-fills; ``gan-project`` runs a
masked W+ projection per in-fill (the exact reference, from w_avg, as a mask loop would have to).
"""
from __future__ import annotations

import argparse
import json
import time

import torch

import generators
from cfgan.classifiers import load_classifier
from cfgan.data import load_fashion_mnist, to_model_range
from cfgan.saliency.infill import make_infiller


def random_masks(n: int, size: int, grid: int, keep: float, seed: int) -> torch.Tensor:
    """Keep masks [n, 1, size, size]: a grid x grid Bernoulli(keep) pattern upsampled by nearest neighbour."""
    g = torch.Generator().manual_seed(seed)
    cells = (torch.rand(n, 1, grid, grid, generator=g) < keep).float()
    return torch.nn.functional.interpolate(cells, size=(size, size), mode="nearest")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--grid", type=int, default=4)
    parser.add_argument("--keep", type=float, default=0.5)
    parser.add_argument("--project-steps", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    G = generators.load("zoo:fashion-mnist").eval().requires_grad_(False)
    clf = load_classifier("zoo:fashion-mnist")
    images, labels = load_fashion_mnist("test")
    x, y = to_model_range(images[:args.images]), labels[:args.images]
    keep = random_masks(len(x), x.shape[-1], args.grid, args.keep, args.seed)
    dropped = (1 - keep).expand_as(x)
    uniform = torch.rand(x.shape, generator=torch.Generator().manual_seed(args.seed + 1))
    index = torch.arange(len(x))

    setups = {"mean": dict(name="mean"), "blur": dict(name="blur"), "noise": dict(name="noise"),
              "gan (prior bank 256, nearest)": dict(name="gan", bank=256, neighbours=1, blend=None),
              "gan (prior bank 256, 1 of 4 nearest)": dict(name="gan", bank=256, neighbours=4, blend=None),
              "gan (prior bank 256, blend of 32 nearest: the default)": dict(name="gan", bank=256, neighbours=32,
                                                                             blend=0.2),
              "gan (prior bank 1024, nearest)": dict(name="gan", bank=1024, neighbours=1, blend=None),
              "gan-image (bank 64 around projection, nearest)": dict(name="gan", bank=64, neighbours=1, blend=None,
                                                                      bank_source="image", project_steps=100)}
    for steps in args.project_steps:
        setups[f"gan-project ({steps} steps)"] = dict(name="gan-project", project_steps=steps)
    rows = {}
    for label, setup in setups.items():
        options = dict(setup)
        name = options.pop("name")
        infiller = make_infiller(name, G, seed=args.seed, **options)
        t0 = time.perf_counter()
        infiller.prepare(x)
        prepare = time.perf_counter() - t0
        t0 = time.perf_counter()
        with torch.no_grad() if name != "gan-project" else torch.enable_grad():
            fill = infiller.fill(index, keep, uniform)
        per_fill = (time.perf_counter() - t0) / len(x)
        seen = keep * x + (1 - keep) * fill.detach()
        rmse = (((seen - x) ** 2 * dropped).flatten(1).sum(1) / dropped.flatten(1).sum(1).clamp_min(1)).sqrt()
        with torch.no_grad():
            accuracy = float((clf.predict(seen) == y).float().mean())
        rows[label] = dict(rmse_dropped=float(rmse.mean()), classifier_accuracy=accuracy,
                           seconds_per_infill=per_fill, seconds_prepare_total=prepare)
        print(f"{label:56s} rmse {rows[label]['rmse_dropped']:.3f}  acc {accuracy:.3f}  "
              f"fill {per_fill * 1e3:9.2f} ms  prepare (once, all images) {prepare:6.2f} s", flush=True)
    with torch.no_grad():
        base = float((clf.predict(x) == y).float().mean())
        blank = float((clf.predict(keep * x + (1 - keep) * -1.0) == y).float().mean())
    print(f"classifier accuracy on the intact images: {base:.3f}; dropped pixels black: {blank:.3f}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(dict(settings=vars(args), intact_accuracy=base, black_accuracy=blank, infillers=rows), fh,
                      indent=2)


if __name__ == "__main__":
    main()
