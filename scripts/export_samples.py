"""Export the bundled sample images: 4 Fashion-MNIST test images per class, 32x32 grayscale PNG.

    PYTHONPATH=. python scripts/export_samples.py --out-dir cfgan/zoo/samples

Per class, deterministically (test-set order): 2 *typical* images the bundled classifier gets right with
probability >= 0.98, and 2 *near* images it gets right (probability 0.6..0.9) whose runner-up is the class it
is most easily confused with (failing that, the images with probability >= 0.6 that give that class the
most probability). The pairs shirt/T-shirt, pullover/coat and sneaker/sandal are fixed; other classes use
the most confused class of the test confusion matrix. These are useful starting points for counterfactuals.
Writes ``labels.json`` = {filename: {label, class_name, test_index, kind, probability}}.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch

from cfgan.classifiers import load_classifier
from cfgan.data import FASHION_MNIST_CLASSES, load_fashion_mnist, load_image, save_image, to_model_range

FIXED_PARTNERS = {"Shirt": "T-shirt/top", "T-shirt/top": "Shirt", "Pullover": "Coat", "Coat": "Pullover",
                  "Sneaker": "Sandal", "Sandal": "Sneaker"}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def partners(confusion: torch.Tensor) -> dict:
    symmetric = (confusion + confusion.T).float()
    symmetric.fill_diagonal_(-1)
    result = {}
    for i, name in enumerate(FASHION_MNIST_CLASSES):
        result[i] = FASHION_MNIST_CLASSES.index(FIXED_PARTNERS[name]) if name in FIXED_PARTNERS \
            else int(symmetric[i].argmax())
    return result


def choose(probs: torch.Tensor, labels: torch.Tensor, per_kind: int = 2):
    """[(test_index, kind)] per class, in test-set order within each kind."""
    preds = probs.argmax(1)
    k = len(FASHION_MNIST_CLASSES)
    confusion = torch.bincount(labels * k + preds, minlength=k * k).view(k, k)
    partner_of = partners(confusion)
    runner_up = probs.clone().scatter_(1, preds.view(-1, 1), -1).argmax(1)
    p_true = probs.gather(1, labels.view(-1, 1)).squeeze(1)
    correct = preds == labels
    picks = []
    for c in range(k):
        partner = partner_of[c]
        near = (correct & (labels == c) & (runner_up == partner) & (p_true >= 0.6) & (p_true <= 0.9))
        near_idx = near.nonzero().flatten()[:per_kind].tolist()
        if len(near_idx) < per_kind:  # fall back to the confident images closest to the partner
            pool = (correct & (labels == c) & (p_true >= 0.6)).nonzero().flatten()
            order = probs[pool, partner].argsort(descending=True, stable=True)
            near_idx += [i for i in pool[order].tolist() if i not in near_idx][:per_kind - len(near_idx)]
        typical = (correct & (labels == c) & (p_true >= 0.98)).nonzero().flatten().tolist()
        typical_idx = [i for i in typical if i not in near_idx][:per_kind]
        picks += [(i, "typical") for i in typical_idx]
        picks += [(i, f"near {FASHION_MNIST_CLASSES[partner]}") for i in near_idx]
    return picks


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="folder with the Fashion-MNIST IDX files (default: system)")
    p.add_argument("--out-dir", default="cfgan/zoo/samples")
    p.add_argument("--classifier", default="zoo:fashion-mnist")
    args = p.parse_args(argv)

    classifier = load_classifier(args.classifier)
    images, labels = load_fashion_mnist("test", args.data, pad_to=32)
    with torch.no_grad():
        probs = torch.cat([classifier.probs(to_model_range(images[i:i + 1000]))
                           for i in range(0, len(images), 1000)])
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    index = {}
    for i, kind in choose(probs, labels):
        label = int(labels[i])
        name = f"{label}-{slug(FASHION_MNIST_CLASSES[label])}-{i:05d}.png"
        save_image(to_model_range(images[i]), out / name)
        reloaded = load_image(out / name, size=32, channels=1)
        if not torch.equal(reloaded, to_model_range(images[i])):
            raise RuntimeError(f"{out / name} does not reload exactly")
        index[name] = dict(label=label, class_name=FASHION_MNIST_CLASSES[label], test_index=i, kind=kind,
                           probability=round(float(probs[i, label]), 4))
    (out / "labels.json").write_text(json.dumps(dict(sorted(index.items())), indent=1) + "\n")
    print(f"wrote {len(index)} images and labels.json to {out}")


if __name__ == "__main__":
    main()
