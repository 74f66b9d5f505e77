"""Measure decision-crossing paths on the bundled Fashion-MNIST models (issue 5's "must show").

For each confusable pair (Shirt -> T-shirt/top, Pullover -> Coat, Sneaker -> Sandal) the first N test images
of the source class that the classifier also assigns to the source are inverted once (all methods start from
the same codes), then every method runs on them. Reported per method and pair:

- crossing rate (start not classified as the target, last frame classified as the target),
- monotone rate, and an independent re-verification: each path's codes re-rendered one path at a time and
  re-classified; "false monotone" counts paths reported monotone that the re-check finds decreasing,
- median identity distance (pixel MSE, LPIPS or its random-backbone stand-in, latent L2) of the crossing
  frame, over each method's crossed paths and over the paths both regularised and ascent crossed,
- black-box: paths crossed within the query budget (every classifier query counted),
- seconds, generator evaluations and classifier queries per path,
- with ``--judges`` (e.g. zoo:fashion-mnist-judge): each crossed path's label from the independent judges
  (genuine / blind-spot / mixed, ``cfgan.paths.judges``) and the judges' probability of the target at the
  last frame. A method written ``NAME+judges`` (``regularized+judges``, ``ascent+judges``) runs with
  ``require_judges``: the judges' log-odds join the objective; its identity cost against plain ``NAME`` is
  reported on the paths both crossed.

Per (pair, method) results are cached in OUT/cache/, so an interrupted run resumes where it stopped.

    PYTHONPATH=. python scripts/eval_paths.py --per-pair 50 --out runs/eval_paths
    PYTHONPATH=. python scripts/eval_paths.py --per-pair 50 --judges zoo:fashion-mnist-judge \
        --methods ascent,regularized,regularized+judges --out runs/eval_judges
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
from cfgan.paths import check_monotone, cross, invert_subjects
from cfgan.paths.outputs import enlarge
from inversion import LatentCode, load_latents, save_latents

IDENTITY_KEYS = ("pixel", "lpips", "lpips_random_backbone", "latent")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", default="zoo:fashion-mnist")
    p.add_argument("--classifier", default="zoo:fashion-mnist")
    p.add_argument("--data", default=None, help="folder of the Fashion-MNIST IDX files")
    p.add_argument("--per-pair", type=int, default=50)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--methods", default="regularized,ascent,blackbox")
    p.add_argument("--pairs", default=None, help="comma-separated indices into the demo pairs (default: all); "
                   "runs sharing --out share the cache, so pairs can be split across processes and a final "
                   "run over all pairs only reads the cache and writes the report")
    p.add_argument("--invert-steps", type=int, default=200)
    p.add_argument("--invert-agreement", type=float, default=0.1, help="class-agreement weight of inversion")
    p.add_argument("--query-budget", type=int, default=2000)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--judges", default="", help="comma-separated judge classifiers (e.g. zoo:fashion-mnist-judge)")
    p.add_argument("--out", default="runs/eval_paths")
    return p.parse_args(argv)


def start_codes(G, clf, images, args, cache: str):
    """Inversions shared by all methods (cached): cfgan's path inversion, with class agreement."""
    if os.path.isfile(cache):
        code, payload = load_latents(cache, G)
        return code, payload["metrics"], payload["settings"]
    proj = invert_subjects(G, clf, images.to(G.device), "w+", args.invert_steps,
                           agreement=args.invert_agreement, seed=args.seed)
    save_latents(cache, proj.code, G, proj.metrics, proj.settings)
    return proj.code, proj.metrics, proj.settings


def recheck(G, clf, codes: LatentCode, frames: int, targets):
    """Re-render each path alone and re-classify it: (monotone [N], target probabilities [N, T])."""
    n = len(codes) // frames
    probs = []
    with torch.no_grad():
        for i in range(n):
            part = codes.select(list(range(i * frames, (i + 1) * frames)))
            part = LatentCode(part.space, part.values.to(G.device), None, None, part.truncation_psi)
            probs.append(clf(part.render(G)).softmax(1)[:, targets[i]].cpu())
    probs = torch.stack(probs)
    return check_monotone(probs), probs


def run_method(G, clf, method, code, images, source, target, args, judges=()):
    name, _, variant = method.partition("+")
    options = {"query_budget": args.query_budget} if name == "blackbox" else {}
    if variant == "judges":
        if not judges:
            raise SystemExit(f"method {method} needs --judges")
        options["require_judges"] = True
    results = []
    t0 = time.perf_counter()
    for s in range(0, len(code), args.batch):
        idx = list(range(s, min(s + args.batch, len(code))))
        results.append(cross(G, clf, code.select(idx), target, source, method=name, frames=args.frames,
                             space="w+", seed=args.seed + s, reference=images[idx].to(G.device), judges=judges,
                             **options))
    seconds = time.perf_counter() - t0
    merged = {
        "probs": torch.cat([r.probs for r in results]), "crossed": torch.cat([r.crossed for r in results]),
        "monotone": torch.cat([r.monotone for r in results]),
        "repaired": torch.cat([r.repaired for r in results]),
        "crossing_index": sum([r.crossing_index for r in results], []),
        "start_is_target": torch.cat([r.predicted[:, 0] == target for r in results]),
        "identity": {k: (None if any(r.identity.get(k) is None for r in results)
                         else torch.cat([r.identity[k] for r in results])) for k in IDENTITY_KEYS},
        "generator_evals": torch.cat([r.generator_evals for r in results]),
        "classifier_queries": torch.cat([r.classifier_queries for r in results]),
        "lam": None if results[0].lam is None else torch.cat([r.lam for r in results]),
        "codes": LatentCode.cat([r.codes for r in results]).values, "seconds": seconds,
        "filmstrip_frames": torch.cat([r.frames[:4] for r in results[:1]]),
        "labels": sum([r.labels or [] for r in results], []) if judges else None,
        "judge_end_probs": ({j: torch.cat([r.judges.probs[j][:, -1] for r in results])
                             for j in results[0].judges.names} if judges else None),
    }
    return merged


def at_crossing(res, key, subset=None):
    values = res["identity"].get(key)
    if values is None:
        return []
    out = []
    for i, k in enumerate(res["crossing_index"]):
        if bool(res["crossed"][i]) and k is not None and (subset is None or i in subset):
            out.append(float(values[i, k]))
    return out


def summarize(G, clf, res, target, frames, args, method):
    n = len(res["crossed"])
    codes = LatentCode("w+", res["codes"])
    mono_check, probs_check = recheck(G, clf, codes, frames, [target] * n)
    reported = res["monotone"]
    crossed_idx = set(i for i in range(n) if bool(res["crossed"][i]))
    row = {
        "paths": n, "crossed": len(crossed_idx), "crossing_rate": len(crossed_idx) / n,
        "start_already_target": int(res["start_is_target"].sum()),
        "crossing_rate_excluding_start_already_target":
            len(crossed_idx) / max(1, n - int(res["start_is_target"].sum())),
        "monotone": int(reported.sum()), "repaired": int(res["repaired"].sum()),
        "recheck_monotone": int(mono_check.sum()),
        "false_monotone": int((reported & ~mono_check).sum()),
        "max_prob_difference_recheck": float((probs_check - res["probs"]).abs().max()),
        "median_identity_at_crossing": {k: median(at_crossing(res, k)) for k in IDENTITY_KEYS},
        "seconds_per_path": res["seconds"] / n,
        "generator_evals_per_path": float(res["generator_evals"].float().mean()),
        "classifier_queries_per_path": float(res["classifier_queries"].float().mean()),
        "max_classifier_queries": int(res["classifier_queries"].max()),
    }
    if method == "blackbox":
        within = res["crossed"] & (res["classifier_queries"] <= args.query_budget)
        row["crossed_within_budget"] = int(within.sum())
        row["crossed_within_budget_rate"] = float(within.float().mean())
    if res.get("labels") is not None:
        from cfgan.paths.judges import label_counts

        row["labels"] = label_counts(res["labels"])
        row["judge_end_prob_median_on_crossed"] = {
            j: median([float(p[i]) for i in crossed_idx]) for j, p in res["judge_end_probs"].items()}
        for label in ("genuine", "blind-spot"):
            picked = {i for i, lab in enumerate(res["labels"]) if lab == label}
            row[f"median_identity_at_crossing_{label}"] = {k: median(at_crossing(res, k, picked))
                                                            for k in IDENTITY_KEYS}
    if res["lam"] is not None:
        lam = sorted(res["lam"].tolist())
        row["lambda_median"] = lam[len(lam) // 2]
        row["lambda_range"] = [lam[0], lam[-1]]
    return row


def figures(out, pair_name, images, results, frames):
    """Example filmstrips: per subject one row per method (in the order run), each row the subject image
    followed by the path's frames."""
    rows = []
    for i in range(min(4, images.shape[0])):
        for method in results:
            if i < results[method]["filmstrip_frames"].shape[0]:
                rows.append(torch.cat([images[i:i + 1].cpu(), results[method]["filmstrip_frames"][i]], 0))
    if rows:
        grid = make_grid(enlarge(torch.cat(rows), 64), nrow=frames + 1, padding=4)
        save_image(grid, os.path.join(out, f"examples_{pair_name}.png"))


def boxplot(out, per_pair_results):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    keys = ("pixel", "lpips_random_backbone", "latent")
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2), dpi=110)
    for ax, key in zip(axes, keys):
        data, labels = [], []
        for pair_name, results in per_pair_results.items():
            for method, res in results.items():
                vals = at_crossing(res, key) if key in res["identity"] else []
                if not vals and key == "lpips_random_backbone":
                    vals = at_crossing(res, "lpips")
                data.append(vals or [float("nan")])
                labels.append(f"{pair_name.split('-to-')[0][:5]}\n{method[:4]}")
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(labels) + 1), labels)
        ax.set_title(f"identity at crossing: {key}", fontsize=9)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "identity_at_crossing.png"))
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", UserWarning)
    os.makedirs(os.path.join(args.out, "cache"), exist_ok=True)
    G = generators.load(args.generator, device=args.device)
    clf = load_classifier(args.classifier, device=args.device)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    judges = [load_classifier(j.strip(), device=args.device) for j in args.judges.split(",") if j.strip()]
    report = {"settings": vars(args), "generator": getattr(G, "source", None), "pairs": {}}
    per_pair_results = {}
    t_start = time.perf_counter()
    chosen = DEMO_PAIRS if args.pairs is None else [DEMO_PAIRS[int(i)] for i in args.pairs.split(",")]
    for src_name, dst_name in chosen:
        src, dst = clf.class_index(src_name), clf.class_index(dst_name)
        pair = f"{src_name}-to-{dst_name}".replace("/", "_").replace(" ", "_")
        images, test_idx, n_agree, n_label = images_classified_as(clf, src, args.per_pair, root=args.data)
        cache = os.path.join(args.out, "cache", f"{pair}_latents.pt")
        code, inv_metrics, _ = start_codes(G, clf, images, args, cache)
        with torch.no_grad():
            recon_pred = clf(code.render(G)).argmax(1).cpu()
        entry = {"source": src_name, "target": dst_name, "test_indices": test_idx,
                 "source_images_classified_as_source": f"{n_agree}/{n_label}",
                 "inversion_psnr_mean": sum(inv_metrics["psnr"]) / len(inv_metrics["psnr"]),
                 "reconstructions_classified_as_source": int((recon_pred == src).sum()),
                 "reconstructions_classified_as_target": int((recon_pred == dst).sum()), "methods": {}}
        results = {}
        for method in methods:
            cache = os.path.join(args.out, "cache", f"{pair}_{method}.pt")
            if os.path.isfile(cache):
                res = torch.load(cache, weights_only=True)
            else:
                res = run_method(G, clf, method, code, images, src, dst, args, judges)
                torch.save(res, cache)
            results[method] = res
            entry["methods"][method] = summarize(G, clf, res, dst, args.frames, args, method)
            print(f"{pair} {method}: {json.dumps(entry['methods'][method])}", flush=True)
        if "regularized" in results and "ascent" in results:
            both = set(i for i in range(len(results["ascent"]["crossed"]))
                       if bool(results["ascent"]["crossed"][i])
                       and bool(results["regularized"]["crossed"][i]))
            entry["paths_crossed_by_both"] = len(both)
            entry["median_identity_at_crossing_on_paths_both_crossed"] = {
                m: {k: median(at_crossing(results[m], k, both)) for k in IDENTITY_KEYS}
                for m in ("regularized", "ascent")}
        for method in methods:  # what requiring the judges costs in identity, on paths both variants crossed
            plain = method.partition("+")[0]
            if method.endswith("+judges") and plain in results:
                both = set(i for i in range(len(results[plain]["crossed"]))
                           if bool(results[plain]["crossed"][i]) and bool(results[method]["crossed"][i]))
                entry["methods"][method]["identity_cost_against_" + plain] = {
                    "paths_both_crossed": len(both),
                    "median_identity_at_crossing": {m: {k: median(at_crossing(results[m], k, both))
                                                        for k in IDENTITY_KEYS} for m in (plain, method)}}
        report["pairs"][pair] = entry
        per_pair_results[pair] = results
        figures(args.out, pair, images, results, args.frames)
    report["overall"] = overall(report, methods)
    report["overall"]["pooled_median_identity_at_crossing"] = pooled(per_pair_results, methods)
    report["seconds"] = time.perf_counter() - t_start
    if methods:
        boxplot(args.out, per_pair_results)
    with open(os.path.join(args.out, "eval_paths.json"), "w") as f:
        json.dump(report, f, indent=2, default=str)
    print(json.dumps(report["overall"], indent=2))


def pooled(per_pair_results, methods):
    """Medians over all pairs: each method's crossed paths, and the paths both regularised and ascent
    crossed."""
    out = {}
    for method in methods:
        out[method] = {k: median(sum((at_crossing(r[method], k) for r in per_pair_results.values()), []))
                       for k in IDENTITY_KEYS}
    if "regularized" in methods and "ascent" in methods:
        both = {}
        for pair, r in per_pair_results.items():
            both[pair] = set(i for i in range(len(r["ascent"]["crossed"]))
                             if bool(r["ascent"]["crossed"][i]) and bool(r["regularized"]["crossed"][i]))
        out["on_paths_both_crossed"] = {
            m: {k: median(sum((at_crossing(r[m], k, both[p]) for p, r in per_pair_results.items()), []))
                for k in IDENTITY_KEYS} for m in ("regularized", "ascent")}
        out["paths_both_crossed"] = sum(len(b) for b in both.values())
    return out


def overall(report, methods):
    out = {}
    for method in methods:
        rows = [p["methods"][method] for p in report["pairs"].values() if method in p["methods"]]
        n = sum(r["paths"] for r in rows)
        agg = {"paths": n, "crossing_rate": sum(r["crossed"] for r in rows) / max(n, 1),
               "monotone_rate": sum(r["monotone"] for r in rows) / max(n, 1),
               "false_monotone": sum(r["false_monotone"] for r in rows),
               "start_already_target": sum(r["start_already_target"] for r in rows)}
        if method == "blackbox":
            agg["crossed_within_budget_rate"] = sum(r["crossed_within_budget"] for r in rows) / max(n, 1)
        if all("labels" in r for r in rows) and rows:
            agg["labels"] = {k: sum(r["labels"][k] for r in rows) for k in rows[0]["labels"]}
        out[method] = agg
    return out


if __name__ == "__main__":
    main()
