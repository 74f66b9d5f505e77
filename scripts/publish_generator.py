"""Publish a training run's EMA generator into the package zoo, with its checksum and provenance card.

    python scripts/publish_generator.py --run runs/fmnist-cpu --eval runs/fmnist-eval/metrics.json \
        --name fashion-mnist

Copies ``<run>/final.pt`` to ``generators/zoo/<name>.pt`` and writes ``generators/zoo/<name>.json``
holding the sha256 that ``generators.load("zoo:<name>")`` verifies, the run's provenance (command,
configuration, iterations, wall time, hardware) and the evaluation metrics.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from generators.loaders.native import file_sha256
from generators.loaders.zoo import GENERATORS


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="training run folder (final.pt, provenance.json)")
    p.add_argument("--eval", default=None, help="metrics.json written by scripts/eval_generator.py")
    p.add_argument("--name", required=True)
    p.add_argument("--licence", default="MIT (trained by cfgan on Fashion-MNIST, MIT licence)")
    args = p.parse_args(argv)
    final = os.path.join(args.run, "final.pt")
    if not os.path.isfile(final):
        sys.exit(f"{final} does not exist: the run has not finished")
    dest = GENERATORS.folder / f"{args.name}.pt"
    shutil.copyfile(final, dest)
    with open(os.path.join(args.run, "provenance.json")) as f:
        provenance = json.load(f)
    card = {"name": args.name, "file": dest.name, "sha256": file_sha256(dest), "bytes": dest.stat().st_size,
            "licence": args.licence, "provenance": provenance}
    if args.eval:
        with open(args.eval) as f:
            card["evaluation"] = json.load(f)
    with open(GENERATORS.folder / f"{args.name}.json", "w") as f:
        json.dump(card, f, indent=2)
    print(f"published {dest} ({card['bytes'] / 1e6:.2f} MB, sha256 {card['sha256'][:16]}...)")


if __name__ == "__main__":
    main()
