"""Measure a Fashion-MNIST generator with the bundled classifier.

Frechet distance on the classifier's penultimate features between ``--n`` samples (psi=1, fixed seeds) and the
10,000 test images, next to the floor: the same distance between 10,000 training images and the test set.
Also the class histogram of the samples as the classifier sees them (a class under 4% is flagged: the GAN
under-produces or drops it) and an 8x8 sample grid.

    python scripts/eval_generator.py --generator runs/fmnist-gpu/final.pt --out runs/fmnist-gpu/eval
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from cfgan.data import FASHION_MNIST_CLASSES, load_fashion_mnist, make_grid, save_image
from cfgan.evaluation import class_histogram, classifier_outputs, frechet_distance, sample_outputs

MIN_CLASS_FRACTION = 0.04


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", required=True, help="generator file (native .pt) or zoo:NAME")
    p.add_argument("--classifier", default="zoo:fashion-mnist", help="classifier spec")
    p.add_argument("--n", type=int, default=10000, help="number of generator samples")
    p.add_argument("--out", required=True, help="folder for metrics.json and samples.png")
    p.add_argument("--data", default=None, help="folder with the Fashion-MNIST IDX files")
    p.add_argument("--seed", type=int, default=0, help="z seed of the samples (and of the train subset)")
    p.add_argument("--truncation-psi", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--device", default=None, help="'cuda' or 'cpu' (default: cuda when available)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    return p.parse_args(argv)


def load_generator(spec: str, device):
    """A generator from any file ``generators.load`` reads, or ``zoo:NAME``; a clear exit when it cannot."""
    from generators import load
    from generators.loaders import CheckpointError

    try:
        return load(spec).to(device).eval()
    except (CheckpointError, FileNotFoundError) as err:
        raise SystemExit(f"eval_generator: {err}") from err


def generator_meta(spec: str) -> dict:
    path = Path(spec)
    if not path.is_file():
        return {}
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - provenance is optional for the report
        return {}
    meta = blob.get("meta", {}) if isinstance(blob, dict) else {}
    return {k: meta[k] for k in ("steps", "images_seen", "train_seconds", "hardware", "command") if k in meta}


def histogram_dict(hist: np.ndarray) -> dict:
    return {FASHION_MNIST_CLASSES[i]: round(float(f), 4) for i, f in enumerate(hist)}


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.n < 2:
        raise SystemExit(f"eval_generator: --n must be at least 2, got {args.n}")
    start = time.time()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from cfgan.classifiers import load_classifier

    try:
        classifier = load_classifier(args.classifier, device=device).eval()
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"eval_generator: cannot load classifier {args.classifier}: {err}") from err
    if not classifier.has_features:
        raise SystemExit(f"eval_generator: classifier {args.classifier} exposes no penultimate features")
    G = load_generator(args.generator, device)
    try:
        test_images, test_labels = load_fashion_mnist("test", root=args.data, pad_to=G.resolution)
        train_images, _ = load_fashion_mnist("train", root=args.data, pad_to=G.resolution)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"eval_generator: cannot load Fashion-MNIST: {err}") from err
    subset = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(args.seed))[:10000]

    test_feats, test_probs = classifier_outputs(classifier, test_images, args.batch)
    train_feats, train_probs = classifier_outputs(classifier, train_images[subset], args.batch)
    sample_feats, sample_probs, grid = sample_outputs(G, classifier, args.n, seed=args.seed,
                                                      batch_size=args.batch,
                                                      truncation_psi=args.truncation_psi)
    save_image(make_grid(grid, nrow=8), out / "samples.png")

    fd_samples = frechet_distance(sample_feats, test_feats)
    fd_floor = frechet_distance(train_feats, test_feats)
    sample_hist = class_histogram(sample_probs)
    rare = [FASHION_MNIST_CLASSES[i] for i, f in enumerate(sample_hist) if f < MIN_CLASS_FRACTION]
    accuracy = float((test_probs.argmax(1) == test_labels).float().mean())
    metrics = dict(
        generator=args.generator, classifier=args.classifier, n_samples=args.n, seed=args.seed,
        truncation_psi=args.truncation_psi, feature_dim=int(test_feats.shape[1]),
        fd_samples_vs_test=fd_samples, fd_train_vs_test=fd_floor,
        fd_ratio_to_floor=fd_samples / fd_floor if fd_floor > 0 else None,
        class_histogram_samples=histogram_dict(sample_hist),
        class_histogram_test=histogram_dict(class_histogram(test_probs)),
        class_histogram_train_subset=histogram_dict(class_histogram(train_probs)),
        classes_under_4_percent=rare,
        mean_max_prob_samples=float(sample_probs.max(1).values.mean()),
        mean_max_prob_test=float(test_probs.max(1).values.mean()),
        classifier_test_accuracy=accuracy, generator_meta=generator_meta(args.generator),
        device=str(device), seconds=round(time.time() - start, 1), torch=str(torch.__version__),
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")

    print(f"FD (classifier features, {args.n} samples vs test): {fd_samples:.3f}")
    print(f"FD floor (10000 train vs test):                     {fd_floor:.3f}")
    print("class histogram of samples: " + ", ".join(f"{k} {v:.1%}" for k, v in
                                                     metrics["class_histogram_samples"].items()))
    if rare:
        print(f"WARNING: classes under {MIN_CLASS_FRACTION:.0%} of samples: {', '.join(rare)}")
    print(f"mean max prob: samples {metrics['mean_max_prob_samples']:.3f}, "
          f"test {metrics['mean_max_prob_test']:.3f}; classifier test accuracy {accuracy:.4f}")
    print(f"wrote {out / 'metrics.json'} and {out / 'samples.png'} ({metrics['seconds']}s)")
    return metrics


if __name__ == "__main__":
    main()
