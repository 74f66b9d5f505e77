"""Active learning on Fashion-MNIST with boundary samples from ``cfgan augment``, against the usual baselines.

Per seed: a small CNN is trained on ``--labelled`` random training images (the labelled set). Then
``--extra`` samples are added, labelled by an oracle (the bundled classifier ``zoo:fashion-mnist``, standing
in for a person), and the CNN is trained again from the same initialisation; test accuracy before and after:

- ``boundary``: frames near this CNN's decision boundary, mined by the augment job (``cfgan.jobs.augment``,
  generator ``zoo:fashion-mnist``, ``--pairs auto``: each image at the boundary with its runner-up class) from
  ``--mine-images`` random unlabelled images (``--mine-from margin``: the smallest-margin ones); the ``--extra``
  closest to p = 0.5 (``--prefer boundary``);
- ``blind-spot``: the same mined candidates in ``--prefer blind-spot`` order (frames of paths that the judge
  ``zoo:fashion-mnist-judge`` does not follow first), the same number;
- ``random``: that many random unlabelled real images;
- ``margin``: the unlabelled real images with the smallest margin between the CNN's top two probabilities
  (uncertainty sampling).

Every added sample is labelled by the oracle, real ones included, so the arms differ only in what is picked.
Writes ``OUT/results.json`` and prints a table (mean and standard deviation over the seeds).

    PYTHONPATH=. python scripts/active_learning.py --out runs/active_learning
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import torch
from torch import nn

import generators
from cfgan.augment import read_manifest, select
from cfgan.classifiers import Classifier, load_classifier
from cfgan.data import FASHION_MNIST_CLASSES, load_fashion_mnist, load_image, save_image, to_model_range
from cfgan.jobs import run_job
from cfgan.jobs.augment import AugmentJob
from cfgan.jobs.progress import Progress

ARMS = ("boundary", "blind-spot", "random", "margin")


def small_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, 10))


def train(images: torch.Tensor, labels: torch.Tensor, seed: int, epochs: int, batch: int = 64) -> nn.Module:
    """The CNN trained from the seed's initialisation (same for every arm of a seed) with Adam."""
    torch.manual_seed(seed)
    model = small_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=gen)
        for s in range(0, len(images), batch):
            idx = order[s:s + batch]
            loss = nn.functional.cross_entropy(model(images[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def predict_probs(model, images: torch.Tensor, chunk: int = 1000) -> torch.Tensor:
    return torch.cat([model(images[s:s + chunk]).softmax(1) for s in range(0, len(images), chunk)])


def accuracy(model, images, labels) -> float:
    return float((predict_probs(model, images).argmax(1) == labels).float().mean())


def mine(G, model, pool_images, pool_labels, picks, args, seed: int, folder: Path):
    """Run the augment job on the picked pool images (an ImageFolder tree by true class); its manifest."""
    data = folder / "data"
    if data.exists():
        shutil.rmtree(data)
    for i in picks.tolist():
        name = FASHION_MNIST_CLASSES[int(pool_labels[i])].replace("/", "-")
        save_image(pool_images[i], data / name / f"{i:05d}.png")
    clf = Classifier(model, class_names=FASHION_MNIST_CLASSES, name=f"small-cnn-seed{seed}")
    judge = load_classifier("zoo:fashion-mnist-judge")
    job = AugmentJob(G, clf, str(data), "auto", paths_per_image=args.paths_per_image, eps=args.eps,
                     method="ascent", frames=args.frames, batch=args.block, seed=seed,
                     invert_steps=args.invert_steps, judges=[judge])
    started = time.perf_counter()
    report = run_job(job, folder / "augment", overwrite=True, progress=Progress(f"mine seed {seed}"))
    return read_manifest(folder / "augment"), time.perf_counter() - started, report.summary


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--labelled", type=int, default=1000)
    parser.add_argument("--pool", type=int, default=10000, help="unlabelled training images to pick from")
    parser.add_argument("--mine-images", type=int, default=64, help="pool images the augment job starts from")
    parser.add_argument("--mine-from", choices=("random", "margin"), default="random",
                        help="which unlabelled images the paths start from: random ones, or the smallest-margin ones")
    parser.add_argument("--paths-per-image", type=int, default=2)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--invert-steps", type=int, default=100)
    parser.add_argument("--block", type=int, default=8)
    parser.add_argument("--extra", type=int, default=300, help="samples each arm adds (fewer if fewer were mined)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--test", type=int, default=10000, help="test images to evaluate on (first N)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/active_learning")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()

    train_u8, train_y = load_fashion_mnist("train")
    test_u8, test_y = load_fashion_mnist("test")
    train_x, test_x, test_y = to_model_range(train_u8), to_model_range(test_u8[:args.test]), test_y[:args.test]
    oracle = load_classifier("zoo:fashion-mnist")
    G = generators.load("zoo:fashion-mnist")

    def oracle_labels(images):
        return predict_probs(oracle, images).argmax(1)

    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        perm = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(1000 + seed))
        lab, pool = perm[:args.labelled], perm[args.labelled:args.labelled + args.pool]
        x0, y0 = train_x[lab], train_y[lab]
        t0 = time.perf_counter()
        model = train(x0, y0, seed, args.epochs)
        t_train = time.perf_counter() - t0
        before = accuracy(model, test_x, test_y)
        pool_x = train_x[pool]
        probs = predict_probs(model, pool_x).sort(1, descending=True).values
        by_margin = (probs[:, 0] - probs[:, 1]).argsort()
        if args.mine_from == "margin":  # start the paths at the images uncertainty sampling would pick
            picks = by_margin[:args.mine_images]
        else:
            picks = torch.randperm(len(pool), generator=torch.Generator().manual_seed(2000 + seed))[:args.mine_images]
        manifest, t_mine, summary = mine(G, model, pool_x, train_y[pool], picks, args, seed, out / f"seed{seed}")
        n = min(args.extra, len(manifest))
        extra = {}
        for arm in ("boundary", "blind-spot"):
            chosen = select(manifest, arm, n)
            images = torch.stack([load_image(out / f"seed{seed}" / "augment" / s["file"], size=32, channels=1)
                                  for s in chosen])
            extra[arm] = (images, {"judge_labels": {k: sum(s["judge_label"] == k for s in chosen)
                                                    for k in ("blind-spot", "mixed", "genuine")}})
        rand = torch.randperm(len(pool), generator=torch.Generator().manual_seed(3000 + seed))[:n]
        extra["random"] = (pool_x[rand], {"oracle_agrees_with_truth": float(
            (oracle_labels(pool_x[rand]) == train_y[pool][rand]).float().mean())})
        margin = by_margin[:n]
        extra["margin"] = (pool_x[margin], {"oracle_agrees_with_truth": float(
            (oracle_labels(pool_x[margin]) == train_y[pool][margin]).float().mean())})
        row = {"seed": seed, "before": before, "added": n, "mined_candidates": len(manifest),
               "mine_seconds": t_mine, "train_seconds": t_train, "mined_paths": summary.get("paths"),
               "mined_crossed": summary.get("crossed"), "path_labels": summary.get("labels")}
        for arm in ARMS:
            images, info = extra[arm]
            labels = oracle_labels(images)
            agrees = float((labels == predict_probs(model, images).argmax(1)).float().mean())
            after = accuracy(train(torch.cat([x0, images]), torch.cat([y0, labels]), seed, args.epochs),
                             test_x, test_y)
            row[arm] = {"after": after, "gain": after - before, "oracle_agrees_with_model": agrees, **info}
            print(f"seed {seed} {arm:>10}: {before:.4f} -> {after:.4f} ({after - before:+.4f}); oracle agrees with "
                  f"the model on {agrees:.0%} of the added samples", flush=True)
        rows.append(row)
        (out / "results.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))

    def spread(values):
        return (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)

    table = {}
    before = spread([r["before"] for r in rows])
    print(f"\nbefore ({args.labelled} labelled): {before[0]:.4f} +- {before[1]:.4f}")
    print("| arm | added | test accuracy after | gain |\n|---|---|---|---|")
    for arm in ARMS:
        after, gain = spread([r[arm]["after"] for r in rows]), spread([r[arm]["gain"] for r in rows])
        table[arm] = {"after": after, "gain": gain}
        print(f"| {arm} | {rows[0]['added']} | {after[0]:.4f} +- {after[1]:.4f} | {gain[0]:+.4f} +- {gain[1]:.4f} |")
    print(f"total {time.perf_counter() - t_all:.0f} s")
    (out / "results.json").write_text(json.dumps({"args": vars(args), "rows": rows, "before": before,
                                                  "table": table, "seconds": time.perf_counter() - t_all},
                                                 indent=2))


if __name__ == "__main__":
    main()
