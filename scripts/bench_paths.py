"""Cost of decision-crossing paths: seconds and generator evaluations per path, batched vs one at a time.

For each method, N paths are run once as one batch and once one path at a time (same start codes, same
settings); the ratios say what batching buys. Start codes are generator seeds whose images the classifier
does not already assign to the target. A method may name a lambda search of regularised paths,
``regularized:bisection`` (the original log-bisection + joint trajectory) or ``regularized:continuation``
(the default), so both are compared in one run; each row also gives the median identity distance (pixel
MSE, latent L2) of the crossing frame over its crossed paths, and over the paths both searches crossed.

    PYTHONPATH=. python scripts/bench_paths.py --paths 8 --frames 16 \
        --methods ascent,regularized:bisection,regularized:continuation --out runs/bench_paths.json
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
from cfgan.evaluation import median
from cfgan.paths import cross
from cfgan.paths.monotone import schedule_targets
from inversion import LatentCode


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", default="zoo:fashion-mnist")
    p.add_argument("--classifier", default="zoo:fashion-mnist")
    p.add_argument("--source", default="Shirt")
    p.add_argument("--target", default="T-shirt/top")
    p.add_argument("--paths", type=int, default=8)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--methods", default="ascent,regularized:bisection,regularized:continuation,blackbox",
                   help="comma-separated; regularized:SEARCH picks the lambda search")
    p.add_argument("--no-single", action="store_true", help="skip the one-path-at-a-time runs")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="write the table as JSON here")
    return p.parse_args(argv)


def pick_seeds(G, clf, source: int, target: int, n: int, limit: int = 2000):
    """Seeds whose samples are classified as ``source`` (else: anything but ``target``)."""
    chosen, fallback = [], []
    with torch.no_grad():
        for start in range(0, limit, 64):
            seeds = list(range(start, start + 64))
            pred = clf(LatentCode.from_seeds(G, seeds, "w+").render(G)).argmax(1).tolist()
            chosen += [s for s, p in zip(seeds, pred) if p == source]
            fallback += [s for s, p in zip(seeds, pred) if p != target and p != source]
            if len(chosen) >= n:
                return chosen[:n]
    return (chosen + fallback)[:n]


def spacing_error(res) -> float:
    """Largest |p(frame) - scheduled p| / gap to the nearer scheduled neighbour over crossed paths' inner
    frames (frames are scheduled evenly in probability): 0.25 means each frame within a quarter gap."""
    p = res.probs[res.crossed].double()
    if p.shape[0] == 0 or p.shape[1] < 3:
        return float("nan")
    wanted = schedule_targets(p[:, 0], p[:, -1], p.shape[1], "linear").double()
    gap = wanted.diff(dim=1)
    nearer = torch.minimum(gap[:, :-1], gap[:, 1:]).clamp(min=1e-9)
    return float(((p[:, 1:-1] - wanted[:, 1:-1]).abs() / nearer).max())


def run(G, clf, code, target, source, method, frames):
    name, _, search = method.partition(":")
    options = {"search": search} if search else {}
    t0 = time.perf_counter()
    res = cross(G, clf, code, target, source, method=name, frames=frames, lpips=False, **options)
    return time.perf_counter() - t0, res


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", UserWarning)
    G = generators.load(args.generator, device=args.device)
    clf = load_classifier(args.classifier, device=args.device)
    source, target = clf.class_index(args.source), clf.class_index(args.target)
    seeds = pick_seeds(G, clf, source, target, args.paths)
    code = LatentCode.from_seeds(G, seeds, "w+")
    rows, results = {}, {}
    run(G, clf, code.select([0]), target, source, "ascent", 3)  # warm-up: lazy imports, code spread, caches
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        t_batch, batch = run(G, clf, code, target, source, method, args.frames)
        results[method] = batch
        t_single, singles = 0.0, []
        for i in range(0 if args.no_single else len(code)):
            t, res = run(G, clf, code.select([i]), target, source, method, args.frames)
            t_single += t
            singles.append(res)
        if args.no_single:
            t_single, singles = float("nan"), [batch]
        n = len(code)
        evals_batch = float(batch.generator_evals.sum()) / n
        evals_single = float(sum(int(r.generator_evals.sum()) for r in singles)) / n
        rows[method] = {
            "paths": n, "frames": args.frames,
            "batch_seconds_per_path": t_batch / n, "single_seconds_per_path": t_single / n,
            "speedup_batch_vs_single": t_single / t_batch,
            "batch_generator_evals_per_path": evals_batch, "single_generator_evals_per_path": evals_single,
            "generator_evals_ratio_single_over_batch": evals_single / evals_batch,
            "batch_classifier_queries_per_path": float(batch.classifier_queries.float().mean()),
            "crossed_batch": int(batch.crossed.sum()),
            "crossed_single": sum(int(r.crossed.sum()) for r in singles),
            "monotone_batch": int(batch.monotone.sum()),
            "monotone_single": sum(int(r.monotone.sum()) for r in singles),
            "frame_spacing_error_max": spacing_error(batch),
            "median_identity_at_crossing": {k: median(batch.at_crossing(k)) for k in ("pixel", "latent")},
            "lambda_median": None if batch.lam is None else median(batch.lam.tolist()),
        }
        ident = rows[method]["median_identity_at_crossing"]
        print(f"{method:26s} batch {t_batch / n:7.2f} s/path  single {t_single / n:7.2f} s/path  "
              f"speed-up x{t_single / t_batch:5.2f}   generator evals/path batch {evals_batch:8.1f} "
              f"single {evals_single:8.1f}   crossed {rows[method]['crossed_batch']}/{n}   frame spacing error "
              f"max {rows[method]['frame_spacing_error_max']:.2f} of a gap   median identity at crossing: pixel "
              f"{_fmt(ident['pixel'])} latent {_fmt(ident['latent'])}", flush=True)
    searches = [m for m in results if m.startswith("regularized")]
    if len(searches) >= 2:  # identity on the paths every search crossed: like against like
        both = [i for i in range(len(code)) if all(bool(results[m].crossed[i]) for m in searches)]
        common = {m: {k: median([results[m].at_crossing(k)[i] for i in both]) for k in ("pixel", "latent")}
                  for m in searches}
        for m in searches:
            rows[m]["median_identity_at_crossing_on_paths_all_searches_crossed"] = common[m]
            print(f"{m:26s} on the {len(both)} paths every search crossed: median identity at crossing pixel "
                  f"{_fmt(common[m]['pixel'])} latent {_fmt(common[m]['latent'])}", flush=True)
    payload = {"settings": vars(args), "seeds": seeds, "torch_threads": torch.get_num_threads(),
               "generator": getattr(G, "source", None), "methods": rows}
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(payload, f, indent=2, default=str)
    return payload


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    main()
