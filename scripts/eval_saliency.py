"""Measure the saliency methods on real Fashion-MNIST test images (issue 12's "must show").

1. Every method on the first N test images (``cfgan evaluate``'s job, so an interrupted run resumes): pixel-flip
   curves with gray, black, white and GAN fill, deletion / insertion AUC, robustness to a Ghorbani attack (top-k
   overlap, Spearman rank correlation, captum's sensitivity-max) and seconds per image. A table is printed and
   written to OUT/table.md; the plot of the flip curves is OUT/flip_curves.png. The ``--costly`` methods (FIDO,
   meaningful perturbation, stochastic MIP: seconds per image each, and the attack calls a method 7 more times)
   run on the first ``--costly-images`` images; the table's ``n`` says how many. Each method has its own
   run folder (OUT/eval/METHOD), so processes can split the methods and a run resumes per method.
2. The seed paper's headline (Ikeno & Hara): does stochastic MIP's flip curve stay below gradient's up to
   tau = 50%, and below its LP variant's? Checked per fill.
3. FIDO's in-fillers compared: FIDO SSR and SDR maps with GAN, blur and mean in-fill on the first M images;
   each map is binarised at growing areas (its highest-scoring pixels first) and the area needed to reach one
   probability level is reported: SSR the smallest kept area with p(c) >= ``--ssr-level`` x p0 (equal preserved
   probability), SDR the smallest dropped area with p(c) <= ``--sdr-level`` x p0 (equal destroyed probability),
   p0 the probability on the untouched image. The dropped pixels are filled by the map's own in-filler and,
   as a common yardstick, by the GAN in-filler.

    PYTHONPATH=. python scripts/eval_saliency.py --images 200 --out runs/eval_saliency
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

import generators
from cfgan.classifiers import load_classifier
from cfgan.data import load_fashion_mnist, save_image, to_model_range
from cfgan.jobs import run_job
from cfgan.jobs.evaluate import EvaluateJob
from cfgan.jobs.progress import Progress
from cfgan.saliency import METHODS, make_method, pixel_scores
from cfgan.saliency.evaluation import EvalSettings, plot
from cfgan.saliency.metrics import apply_fill, pixel_ranks

INFILLS = ("gan", "blur", "mean")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", default="zoo:fashion-mnist")
    p.add_argument("--classifier", default="zoo:fashion-mnist")
    p.add_argument("--data", default=None, help="folder of the Fashion-MNIST IDX files")
    p.add_argument("--images", type=int, default=200, help="first N test images")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--robustness-images", type=int, default=None,
                   help="attack only the first R images (default: all)")
    p.add_argument("--costly", default="fido,meaningful,mip",
                   help="methods run on fewer images (--costly-images); every method has its run folder OUT/eval/M")
    p.add_argument("--costly-images", type=int, default=30)
    p.add_argument("--costly-robustness-images", type=int, default=10)
    p.add_argument("--restarts", type=int, default=3, help="random-sign attack candidates per image")
    p.add_argument("--sensitivity-samples", type=int, default=4)
    p.add_argument("--only", choices=["cheap", "costly"], default=None,
                   help="evaluate only the cheap or the costly methods (processes can also split --methods); a "
                   "last run with --skip-eval assembles the table")
    p.add_argument("--option", action="append", default=[], help="METHOD.NAME=VALUE, e.g. mip.steps=100")
    p.add_argument("--fido-images", type=int, default=30, help="images of the FIDO in-fill comparison (0: skip)")
    p.add_argument("--fido-steps", type=int, default=None, help="FIDO steps in the comparison (method default)")
    p.add_argument("--ssr-level", type=float, default=0.9)
    p.add_argument("--sdr-level", type=float, default=0.1)
    p.add_argument("--fills", default="gray,black,white,gan", help="pixel-flip fills")
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--max-batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip-eval", action="store_true", help="only the FIDO comparison (and the table of a "
                   "finished evaluation)")
    p.add_argument("--out", default="runs/eval_saliency")
    return p.parse_args(argv)


def options_of(pairs):
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        method, _, option = name.partition(".")
        try:
            value = json.loads(value)
        except ValueError:
            pass
        out.setdefault(method, {})[option] = value
    return out


def write_images(folder, n, data, classifier):
    """The first ``n`` test images as PNG files (``test-00000.png``...); their labels and predictions."""
    os.makedirs(folder, exist_ok=True)
    images, labels = load_fashion_mnist("test", data)
    x = to_model_range(images[:n])
    for i in range(n):
        path = os.path.join(folder, f"test-{i:05d}.png")
        if not os.path.isfile(path):
            save_image(x[i], path)
    with torch.no_grad():
        predicted = classifier(x).argmax(1)
    return x, labels[:n], predicted


# -- the table --------------------------------------------------------------------------------------------
def table(result: dict) -> str:
    taus = result["taus"]
    fills = result["fills"]
    shown = [t for t in (0.1, 0.3, 0.5, 0.7) if t in taus]
    head = ["method", "n"]
    for f in fills:
        head += [f"{f} flip@{int(t * 100)}%" for t in shown] + [f"{f} mean flip"]
    head += ["deletion AUC", "insertion AUC", "top-k kept", "rank corr", "sens-max", "s / image"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in result["methods"].items():
        cells = [name, str(row["images"])]
        for f in fills:
            curve = row.get(f"flip_{f}")
            if curve is None:
                cells += [""] * (len(shown) + 1)
                continue
            cells += [f"{curve[taus.index(t)]:.2f}" for t in shown] + [f"{np.mean(curve[1:-1]):.3f}"]
        for key in ("deletion_auc", "insertion_auc", "topk_overlap", "rank_correlation", "sensitivity_max",
                    "seconds_per_image"):
            v = row.get(key)
            cells.append("" if v is None else f"{v:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_image(run_dir: str) -> dict:
    """image key -> that image's record, from a finished run's ledger."""
    from cfgan.jobs.runner import read_ledger

    if not os.path.isdir(run_dir):
        return {}
    return {e["record"]["image"]: e["record"] for e in read_ledger(run_dir, repair=False).values()
            if e.get("status") == "done"}


def mip_check(out: str, taus, fills) -> str:
    """Ikeno & Hara's headline per fill: MIP's flip curve <= gradient's and <= the LP variant's for tau <= 50%,
    on the images both were run on (MIP's longer run OUT/eval-mip40 when there is one)."""
    mip = per_image(os.path.join(out, "eval-mip40")) or per_image(os.path.join(out, "eval", "mip"))
    lines = []
    upto = [i for i, t in enumerate(taus) if 0 < t <= 0.5]
    for other in ("gradient", "mip-lp"):
        theirs = per_image(os.path.join(out, "eval", other))
        common = sorted(set(mip) & set(theirs))
        if not common:
            continue
        for f in fills:
            key = f"flip_{f}"
            if key not in mip[common[0]] or key not in theirs[common[0]]:
                continue
            a = np.mean([mip[k][key] for k in common], 0)
            b = np.mean([theirs[k][key] for k in common], 0)
            below = all(a[i] <= b[i] for i in upto)
            pts = ", ".join(f"{int(100 * taus[i])}%: {a[i]:.2f} vs {b[i]:.2f}" for i in upto)
            lines.append(f"- {f} fill, mip vs {other} ({len(common)} images): "
                         f"{'below or equal at every tau <= 50%' if below else 'NOT below everywhere'} ({pts})")
    return "\n".join(lines)


# -- FIDO's in-fillers --------------------------------------------------------------------------------------
def fill_of(name, G, seed=0):
    """A deterministic ``fill(images, keep)`` from FIDO's in-filler ``name`` (GAN: always the nearest sample)."""
    from cfgan.saliency.infill import make_infiller

    infiller = make_infiller(name, G, seed=seed, max_batch=64, bank=256, neighbours=1, bank_source="prior",
                             latents=None, project_steps=100)

    def fill(images, keep):
        infiller.prepare(images)
        return infiller.fill(torch.arange(len(images)), keep, torch.zeros_like(images)).to(images.dtype)
    return fill


@torch.no_grad()
def area_needed(classifier, x, maps, fill, objective, level, steps=64):
    """Per image the smallest fraction of pixels (highest scores first) kept (SSR: p >= level p0) or dropped
    (SDR: p <= level p0); 1.0 where no area reaches it (then counted as the whole image)."""
    n, _, h, w = x.shape
    p_all = h * w
    target = classifier(x).argmax(1)
    p0 = torch.softmax(classifier(x), 1).gather(1, target[:, None])[:, 0]
    ranks = pixel_ranks(maps, list(range(n)))
    need = torch.ones(n)
    found = torch.zeros(n, dtype=torch.bool)
    for i in range(steps + 1):
        a = i / steps
        k = int(round(a * p_all))
        top = (ranks >= p_all - k).reshape(n, 1, h, w).float()
        keep = top if objective == "ssr" else 1 - top
        p = torch.softmax(classifier(apply_fill(x, keep, fill)), 1).gather(1, target[:, None])[:, 0]
        ok = (p >= level * p0) if objective == "ssr" else (p <= level * p0)
        new = ok.cpu() & ~found
        need[new] = a
        found |= ok.cpu()
    return need.numpy()


def fido_comparison(G, classifier, x, args):
    fills = {name: fill_of(name, G) for name in INFILLS}
    rows = []
    for objective, level in (("ssr", args.ssr_level), ("sdr", args.sdr_level)):
        for infill in INFILLS:
            options = dict(objective=objective, infill=infill)
            if args.fido_steps:
                options["steps"] = args.fido_steps
            method = make_method("fido", classifier, generator=G, seed=0, max_batch=args.max_batch, **options)
            started = time.perf_counter()
            maps = torch.cat([pixel_scores(method.attribute(x[s:s + args.batch]), "fido").cpu()
                              for s in range(0, len(x), args.batch)])
            seconds = (time.perf_counter() - started) / len(x)
            own = area_needed(classifier, x, maps, fills[infill], objective, level)
            gan = area_needed(classifier, x, maps, fills["gan"], objective, level)
            rows.append({"objective": objective, "infill": infill, "level": level, "images": len(x),
                         "area_own_median": float(np.median(own)), "area_own_mean": float(np.mean(own)),
                         "area_gan_median": float(np.median(gan)), "area_gan_mean": float(np.mean(gan)),
                         "reached_own": float(np.mean(own < 1)), "reached_gan": float(np.mean(gan < 1)),
                         "mask_mean": float(maps.mean()), "seconds_per_image": seconds})
            print(f"fido {objective} {infill}: area own {np.median(own):.3f}, gan yardstick {np.median(gan):.3f}, "
                  f"{seconds:.2f} s/image", flush=True)
    return rows


def fido_table(rows) -> str:
    head = ["objective", "in-fill", "level", "n", "median area (own in-fill)", "mean", "reached",
            "median area (GAN yardstick)", "mean", "reached", "s / image"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append(f"| {r['objective'].upper()} | {r['infill']} | {r['level']} | {r['images']} | "
                     f"{r['area_own_median']:.3f} | {r['area_own_mean']:.3f} | {r['reached_own']:.2f} | "
                     f"{r['area_gan_median']:.3f} | {r['area_gan_mean']:.3f} | {r['reached_gan']:.2f} | "
                     f"{r['seconds_per_image']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    G = generators.load(args.generator)
    classifier = load_classifier(args.classifier)
    image_dir = os.path.join(args.out, "images")
    x, labels, predicted = write_images(image_dir, args.images, args.data, classifier)
    print(f"{args.images} test images, classifier accuracy on them {float((labels == predicted).float().mean()):.3f}",
          flush=True)
    report = []
    costly = [m for m in args.costly.split(",") if m]
    methods = [m for m in args.methods.split(",") if m]
    for name in methods:  # one run folder per method: processes can split the methods between them
        tier = "costly" if name in costly else "cheap"
        if args.skip_eval or args.only not in (None, tier):
            continue
        n = min(args.costly_images, args.images) if tier == "costly" else args.images
        robust = args.costly_robustness_images if tier == "costly" else args.robustness_images
        settings = EvalSettings(fills=tuple(args.fills.split(",")), robustness_images=robust, restarts=args.restarts,
                                sensitivity_samples=args.sensitivity_samples, max_batch=args.max_batch)
        job = EvaluateJob(classifier, [name], image_dir, G, n, settings, args.batch, options_of(args.option))
        started = time.time()
        run_job(job, os.path.join(args.out, "eval", name), progress=Progress(f"evaluate {name}"), log=print,
                report=True)
        print(f"evaluation of {name} ({n} images): {time.time() - started:.0f} s", flush=True)
    results = {}
    for name in METHODS:
        result_file = os.path.join(args.out, "eval", name, "evaluation.json")
        if os.path.isfile(result_file):
            with open(result_file) as f:
                results[name] = json.load(f)
    if results:
        first = next(iter(results.values()))
        result = dict(first, methods={k: r["methods"][k] for k, r in results.items() if k in r["methods"]})
        plot(result["methods"], result["taus"], result["fills"], os.path.join(args.out, "flip_curves.png"))
        with open(os.path.join(args.out, "evaluation.json"), "w") as f:
            json.dump(result, f, indent=2)
        report += ["## All methods", "", table(result), "", "## MIP vs gradient and LP (tau <= 50%)", "",
                   mip_check(args.out, result["taus"], result["fills"]), ""]
    if args.only:
        return
    fido_file = os.path.join(args.out, "fido_infill.json")
    rows = None
    if args.fido_images:
        rows = fido_comparison(G, classifier, x[:args.fido_images], args)
        with open(fido_file, "w") as f:
            json.dump(rows, f, indent=2)
    elif os.path.isfile(fido_file):  # written by an earlier (or parallel) run
        with open(fido_file) as f:
            rows = json.load(f)
    if rows:
        report += ["## FIDO in-fills: area at equal preserved (SSR) / destroyed (SDR) probability", "",
                   fido_table(rows), ""]
    text = "\n".join(report)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
