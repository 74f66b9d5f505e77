"""``cfgan demo``: the toolkit's main job on the bundled Fashion-MNIST models, in about a minute.

It shows, on real test images, every capability in turn: samples from the generator, inversion of
real images, decision-crossing paths for confusable pairs, and what the classifier thinks each
class looks like (activation maximisation through the generator). Results go to one folder with
an index.html that links them.
"""
from __future__ import annotations

import html
import json
import os
import time
from typing import Callable, Optional

import torch

#: (source class, target class) pairs the classifier confuses most; the demo explains these.
CONFUSABLE_PAIRS = [("Shirt", "T-shirt/top"), ("Pullover", "Coat"), ("Sneaker", "Sandal")]


def pair_images(per_class: int = 1):
    """Bundled sample images of each pair's source class: list of (path, source, target)."""
    from cfgan.zoo import zoo_samples

    samples = zoo_samples()
    chosen = []
    for source, target in CONFUSABLE_PAIRS:
        paths = [s for s in samples if s.class_name == source][:per_class]
        if not paths:
            raise FileNotFoundError(f"no bundled sample of class {source!r}; the package data is incomplete")
        chosen += [(str(s.path), source, target) for s in paths]
    return chosen


def run_demo(out: str, device: str = "cpu", quick: bool = False,
             log: Optional[Callable[[str], None]] = print) -> dict:
    import generators
    from cfgan.am import demo_panel
    from cfgan.classifiers import load_classifier
    from cfgan.cross import demo_crossings
    from cfgan.data import make_grid, save_image
    from cfgan.generate import generate_images
    from cfgan.invert import load_images_for
    from inversion import project

    log = log or (lambda s: None)
    start = time.time()
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    G = generators.load("zoo:fashion-mnist", device=device)
    clf = load_classifier("zoo:fashion-mnist", device=device)
    sections = []

    log("1/4 sampling the bundled StyleGAN2 ...")
    grid = generate_images(G, list(range(64)), grid_path=os.path.join(out, "samples.png"))["grid"]
    sections.append(("Samples from the bundled StyleGAN2 (seeds 0-63)", [grid], ""))

    log("2/4 inverting real test images of confusable classes ...")
    pairs = pair_images(per_class=2)
    target = load_images_for(G, [p for p, _, _ in pairs])
    proj = project(G, target, space="w+", steps=60 if quick else 200, losses={"mse": 1.0, "features": 0.5},
                   features=clf.features, seed=0)
    panel = make_grid(torch.cat([target.cpu(), proj.images.cpu()]), nrow=len(pairs))
    inv_path = str(save_image(panel, os.path.join(out, "inversion.png")))
    s = proj.summary
    sections.append(("Inversion into W+: real images (top) and reconstructions (bottom)", [inv_path],
                     f"mean PSNR {s['psnr']:.1f} dB over {len(pairs)} images"))

    log("3/4 decision-crossing paths for the confusable pairs ...")
    cross_dir = os.path.join(out, "crossings")
    crossings = demo_crossings(G, clf, cross_dir, quick=quick, log=log)
    shown = [os.path.join(cross_dir, f) for pair in crossings["pairs"] for key, f in sorted(pair["files"].items())
             if key in ("filmstrip", "gif", "plot", "change")]
    caption = "; ".join(f"{p['source']} -> {p['target']}: {'crossed' if p['crossed'] else 'did not cross'}, "
                        f"{'monotone' if p['monotone'] else 'not monotone'}, p(target) {p['probs'][0]:.2f} -> "
                        f"{p['probs'][-1]:.2f}" for p in crossings["pairs"])
    sections.append(("Decision-crossing paths (source -> target)", shown, caption))

    log("4/4 what the classifier thinks each class looks like (activation maximisation) ...")
    am = demo_panel(G, clf, os.path.join(out, "am"), quick=quick)
    am_caption = ", ".join(f"{name} {p:.2f}" for name, p in am["prob_mean"].items())
    sections.append(("Activation maximisation through the generator, one row per class", [am["panel"]],
                     f"mean probability reached per class: {am_caption}"))

    seconds = time.time() - start
    report = {"seconds": seconds, "out": os.path.abspath(out), "inversion": s,
              "crossings": crossings["pairs"], "am": am["prob_mean"]}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(report, f, indent=2, default=str)
    _write_index(out, sections)
    for title, images, caption in sections:
        log(f"  {title}: {', '.join(os.path.relpath(p, out) for p in images)}" + (f" ({caption})" if caption else ""))
    return report


def _write_index(out: str, sections) -> None:
    parts = ["<!doctype html><meta charset='utf-8'><title>cfgan demo</title>",
             "<style>body{font-family:sans-serif;margin:2em} img{image-rendering:pixelated;"
             "max-width:95vw;margin:4px;border:1px solid #ccc}</style><h1>cfgan demo</h1>"]
    for title, images, caption in sections:
        parts.append(f"<h2>{html.escape(title)}</h2><p>{html.escape(caption)}</p>")
        for p in images:
            rel = html.escape(os.path.relpath(p, out))
            parts.append(f"<img src='{rel}' width='{512 if p.endswith('.png') else 256}'>")
    with open(os.path.join(out, "index.html"), "w") as f:
        f.write("\n".join(parts))
