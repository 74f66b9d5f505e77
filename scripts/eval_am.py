"""Does generator AM answer "what does a <class> look like?" with realistic images? Measure it.

For every Fashion-MNIST class: ``--per-class`` generator-AM images (W space, restarts of one batch) and as
many pixel-space AM images, then
  - the mean / minimum reached probability of the class (target: mean >= 0.99 for generator AM),
  - the Frechet distance, on the classifier's penultimate features, between the AM images and the real test
    images of that class, for both methods; next to the floor: the same distance for ``--per-class`` random
    real test images of the class against the rest of that class (what a perfect method of that sample size
    would get), and for random generator samples the classifier assigns to the class (the generator's own
    quality, a bound on what any method restricted to its manifold can reach).
Writes metrics.json and one panel PNG per method (first 8 images of every class) into ``--out``.

    PYTHONPATH=. python scripts/eval_am.py --out runs/eval-am --threads 1            # ~16 min on 2 busy cores
    PYTHONPATH=. python scripts/eval_am.py --out runs/eval-am-nostop --stop-at 0 --per-class 20
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

import generators
from cfgan.am import maximize, maximize_pixels
from cfgan.am.outputs import save_panel
from cfgan.am.result import AMResult
from cfgan.classifiers import load_classifier
from cfgan.data import load_fashion_mnist, to_model_range
from cfgan.evaluation import frechet_distance


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", default="zoo:fashion-mnist")
    p.add_argument("--classifier", default="zoo:fashion-mnist")
    p.add_argument("--per-class", type=int, default=40, help="AM images per class and method")
    p.add_argument("--steps", type=int, default=80, help="optimisation steps (both methods)")
    p.add_argument("--space", default="w", choices=["z", "w", "w+"])
    p.add_argument("--prior", type=float, default=0.05)
    p.add_argument("--lr", type=float, default=0.2, help="generator AM learning rate")
    p.add_argument("--init", default="best-of-k", choices=["random", "best-of-k"])
    p.add_argument("--k", type=int, default=1024, help="candidates per batch for best-of-k init")
    p.add_argument("--stop-at", type=float, default=0.995,
                   help="freeze an image once its class probability reaches this (both methods); 0 = never")
    p.add_argument("--reference-samples", type=int, default=3000,
                   help="random generator samples whose per-class FD (by predicted class) is also reported")
    p.add_argument("--skip-pixel", action="store_true", help="generator AM only (tuning runs)")
    p.add_argument("--classes-per-batch", type=int, default=2, help="classes optimised in one batch")
    p.add_argument("--classes", default=None, help="comma-separated class indices (default: all)")
    p.add_argument("--data", default=None, help="folder with the Fashion-MNIST IDX files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    return p.parse_args(argv)


def run_in_batches(fn, classes, per_batch, log, what):
    """Run ``fn(class_chunk)`` over chunks and merge the AMResults (targets in order)."""
    parts = []
    for start in range(0, len(classes), per_batch):
        chunk = classes[start:start + per_batch]
        t0 = time.perf_counter()
        parts.append(fn(chunk))
        log(f"  {what} classes {chunk}: {time.perf_counter() - t0:.1f} s, mean prob "
            f"{float(parts[-1].target_prob.mean()):.4f}")
    offset, assignment = 0, []
    for part in parts:
        assignment.append(part.assignment + offset)
        offset += len(part.targets)
    first = parts[0]
    return AMResult(first.method, [t for p in parts for t in p.targets], torch.cat(assignment),
                    torch.cat([p.images for p in parts]), torch.cat([p.score for p in parts]),
                    torch.cat([p.initial_score for p in parts]), torch.cat([p.probs for p in parts]), None,
                    first.settings, [], any(p.interrupted for p in parts), sum(p.seconds for p in parts))


def _fmt(value) -> str:
    return "   n/a" if value is None else f"{value:6.2f}"


@torch.no_grad()
def random_samples(G, classifier, n, seed, batch=250):
    """Features and predicted classes of ``n`` random generator samples (seed offset from the AM seeds)."""
    feats, preds = [], []
    z_all = G.sample_z(n, seed + 100_000)
    for start in range(0, n, batch):
        images = G(z_all[start:start + batch])
        feats.append(classifier.features(images).float().cpu())
        preds.append(classifier.predict(images).cpu())
    return torch.cat(feats), torch.cat(preds)


@torch.no_grad()
def features(classifier, images, batch=500):
    return torch.cat([classifier.features(images[i:i + batch]).float().cpu()
                      for i in range(0, len(images), batch)])


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    G = generators.load(args.generator, device=args.device)
    clf = load_classifier(args.classifier, device=args.device)
    classes = ([int(c) for c in args.classes.split(",")] if args.classes else list(range(clf.num_classes)))
    images, labels = load_fashion_mnist("test", args.data)
    real_feats = features(clf, to_model_range(images).to(args.device))
    n, steps = args.per_class, args.steps
    started = time.perf_counter()

    log(f"generator AM: {len(classes)} classes x {n} restarts, {steps} steps, space {args.space}")
    gen = run_in_batches(lambda chunk: maximize(G, clf, chunk, space=args.space, restarts=n, steps=steps,
                                                lr=args.lr, prior=args.prior, init=args.init, k=args.k,
                                                stop_at=args.stop_at or None, seed=args.seed),
                         classes, args.classes_per_batch, log, "generator")
    log(f"pixel AM: {len(classes)} classes x {n} restarts, {steps} steps")
    shape = (G.channels, G.resolution, G.resolution)
    pixel_steps = 0 if args.skip_pixel else steps
    pix = run_in_batches(lambda chunk: maximize_pixels(clf, chunk, shape, restarts=n, steps=pixel_steps,
                                                       stop_at=args.stop_at or None, seed=args.seed),
                         classes, args.classes_per_batch, log, "pixel")
    log(f"reference: {args.reference_samples} random generator samples, grouped by predicted class")
    ref_feats, ref_pred = random_samples(G, clf, args.reference_samples, args.seed)
    gen_feats = features(clf, gen.images.to(args.device))
    pix_feats = features(clf, pix.images.to(args.device))
    g = torch.Generator().manual_seed(args.seed)
    rows, table = {}, []
    gen_prob, pix_prob = gen.target_prob, pix.target_prob
    for t, target in enumerate(gen.targets):
        real = real_feats[labels == target.index]
        perm = torch.randperm(len(real), generator=g)
        floor = frechet_distance(real[perm[:n]], real[perm[n:]])
        own = ref_feats[ref_pred == target.index][:n]
        samples_fd = frechet_distance(own, real) if len(own) >= 2 else None
        gr, pr = gen.rows(t), pix.rows(t)
        row = dict(class_index=target.index, real_images=len(real),
                   generator_prob_mean=float(gen_prob[gr].mean()),
                   generator_prob_min=float(gen_prob[gr].min()),
                   pixel_prob_mean=float(pix_prob[pr].mean()), pixel_prob_min=float(pix_prob[pr].min()),
                   fd_generator=frechet_distance(gen_feats[gr], real),
                   fd_pixel=frechet_distance(pix_feats[pr], real), fd_real_floor=floor,
                   fd_generator_samples=samples_fd, generator_samples_used=len(own))
        rows[target.label] = row
        table.append(f"| {target.label:12s} | {row['generator_prob_mean']:10.4f} | "
                     f"{row['generator_prob_min']:9.4f} | {row['pixel_prob_mean']:10.4f} | "
                     f"{row['fd_generator']:8.2f} | {row['fd_pixel']:8.2f} | {row['fd_real_floor']:6.2f} | "
                     f"{_fmt(samples_fd)} ({len(own)}) |")
    save_panel(gen, str(out / "generator_am_panel.png"), f"generator AM ({args.space}, {steps} steps)")
    save_panel(pix, str(out / "pixel_am_panel.png"), f"pixel-space AM ({steps} steps)")
    torch.save({"generator": gen.images, "pixel": pix.images, "assignment": gen.assignment},
               out / "am_images.pt")
    mean = lambda key: sum(r[key] for r in rows.values()) / len(rows)  # noqa: E731
    metrics = dict(classes=rows, generator_settings=gen.settings, pixel_settings=pix.settings,
                   all_classes_generator_prob_mean_at_least_0_99=all(r["generator_prob_mean"] >= 0.99
                                                                     for r in rows.values()),
                   mean_fd_generator=mean("fd_generator"), mean_fd_pixel=mean("fd_pixel"),
                   mean_fd_real_floor=mean("fd_real_floor"), generator_seconds=gen.seconds,
                   pixel_seconds=pix.seconds, total_seconds=time.perf_counter() - started,
                   generator=args.generator, classifier=args.classifier, per_class=n, steps=steps,
                   threads=torch.get_num_threads(), command=" ".join(sys.argv))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log("| class        | gen p mean | gen p min | pix p mean | FD gen   | FD pixel | floor  | G smp (n)   |")
    log("|--------------|------------|-----------|------------|----------|----------|--------|-------------|")
    for line in table:
        log(line)
    log(f"mean FD: generator {metrics['mean_fd_generator']:.2f}, pixel {metrics['mean_fd_pixel']:.2f}, "
        f"real floor {metrics['mean_fd_real_floor']:.2f}; every class >= 0.99: "
        f"{metrics['all_classes_generator_prob_mean_at_least_0_99']}; {metrics['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
