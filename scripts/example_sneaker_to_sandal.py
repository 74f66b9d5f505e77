"""Make every sneaker in a folder more sandal-like, and keep the ones that cross.

An example of an edit scripted with the ``cfgan.edit`` API. Every image in ``--folder`` that the classifier
calls a Sneaker is inverted into W (``--space``; with the class-agreement term, so it starts as a sneaker), moved along
the Sandal direction at each ``--strengths`` (sigma units), and classified frame by frame. For every image
that crosses, its frame classified as a Sandal with the highest probability is saved into ``--out/crossed/``
(the summary also gives the crossing strength, refined between frames); ``--out/grid.png`` shows every frame and
``--out/summary.json`` the numbers.

    PYTHONPATH=. python scripts/example_sneaker_to_sandal.py --out runs/sneaker-to-sandal   # bundled samples, ~20 s
    PYTHONPATH=. python scripts/example_sneaker_to_sandal.py --folder shoes/ --direction "boundary:Sneaker->Sandal"
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

import generators
from cfgan.classifiers import load_classifier
from cfgan.data import load_image, save_image
from cfgan.edit import edit_codes, evaluate_edit, resolve_direction
from cfgan.edit.outputs import write_labelled_grid
from cfgan.paths import invert_subjects
from cfgan.zoo import zoo_samples
from generators.files import write_json

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", default=None, help="images to edit (default: the bundled Fashion-MNIST samples)")
    p.add_argument("--out", required=True)
    p.add_argument("--generator", default="zoo:fashion-mnist")
    p.add_argument("--classifier", default="zoo:fashion-mnist")
    p.add_argument("--source", default="Sneaker")
    p.add_argument("--target", default="Sandal")
    p.add_argument("--direction", default=None, help="default: class:TARGET (the gradient at each image)")
    p.add_argument("--strengths", default="0:4:9")
    p.add_argument("--layers", default="all")
    p.add_argument("--space", default="w", choices=["w", "w+"],
                   help="inversion space: W codes reconstruct less exactly but edit better than W+")
    p.add_argument("--invert-steps", type=int, default=150)
    p.add_argument("--max-images", type=int, default=16)
    p.add_argument("--n-samples", type=int, default=4000, help="samples a boundary direction is fitted on")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    G = generators.load(args.generator)
    clf = load_classifier(args.classifier)
    source = clf.class_name(clf.class_index(args.source))
    if args.folder:
        files = sorted(str(f) for f in Path(args.folder).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    else:
        files = [str(s.path) for s in zoo_samples()]
    images = torch.stack([load_image(f, size=G.resolution, channels=G.channels) for f in files]).to(G.device)
    with torch.no_grad():
        keep = (clf(images).argmax(1) == clf.class_index(source)).nonzero().flatten().tolist()
    keep = keep[:args.max_images]
    if not keep:
        raise SystemExit(f"no image in {args.folder or 'the bundled samples'} is classified as {source}")
    names = [os.path.splitext(os.path.basename(files[i]))[0] for i in keep]
    print(f"{len(keep)} of {len(files)} images are classified as {source}; inverting them")

    code = invert_subjects(G, clf, images[keep], space=args.space, steps=args.invert_steps, seed=args.seed).code
    direction = resolve_direction(args.direction or f"class:{args.target}", G, clf, code=code,
                                  n_samples=args.n_samples, seed=args.seed)
    edit = edit_codes(G, code, direction, args.strengths, layers=args.layers)
    report = evaluate_edit(G, clf, edit, target=args.target)

    os.makedirs(os.path.join(args.out, "crossed"), exist_ok=True)
    rows = []
    for i, name in enumerate(names):
        s = report.crossing[i]
        row = {"name": name, "start_class": clf.class_name(int(report.start_predicted[i])), "crossing_strength": s}
        if row["start_class"] != source:
            print(f"  {name}: its reconstruction is classified as {row['start_class']} (more --invert-steps?)")
        if s is not None:
            p = report.tracked_probs()[i].masked_fill(~report.reached()[i], -1)
            j = int(p.argmax())  # the frame most clearly classified as the target
            row["frame_strength"] = edit.strengths[j]
            row["file"] = os.path.join(args.out, "crossed", f"{name}.png")
            save_image(report.images[i, j], row["file"])  # atomic, like every cfgan write
        rows.append(row)
        print(f"  {name}: " + (f"classified as {args.target} from strength {s:.2f}" if s is not None else
                               f"still not a {args.target} at strength {max(edit.strengths):g}"))
    write_labelled_grid(os.path.join(args.out, "grid.png"), report, edit.strengths, names, clf.class_names,
                        f"{direction.name}: {source} -> {args.target}", rows=len(names))
    summary = {"direction": direction.describe(), "strengths": edit.strengths, "layers": edit.rows,
               "crossed": sum(r["crossing_strength"] is not None for r in rows), "images": rows}
    write_json(os.path.join(args.out, "summary.json"), summary)
    print(f"{summary['crossed']}/{len(rows)} crossed; frames in {os.path.join(args.out, 'crossed')}")
    return summary


if __name__ == "__main__":
    main()
