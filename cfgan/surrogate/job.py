"""The ``cfgan surrogate`` job: samples in, a decision tree over latent directions and its pictures out.

Writes ``surrogate.json`` (features, the tree's nodes with thresholds and classes, fidelity by depth),
``tree.png``, ``strips/node_XX.png`` (one per split) and ``directions.pt`` (the feature directions).
"""
from __future__ import annotations

import os
import time
from typing import Callable, Optional, Sequence, Union

import torch

from cfgan.edit.direction import Direction
from cfgan.edit.files import save_torch, write_json
from cfgan.edit.samples import LatentSamples, labelled_samples
from cfgan.edit.spec import resolve_direction

from .render import render_ws, split_strips, typical_samples, write_strip, write_tree_figure
from .tree import DEPTHS, fit_surrogate, surrogate_directions


def run_surrogate(G, classifier, out: str, directions: Union[str, Sequence] = "boundary", k: int = 8, depth: int = 4,
                  depths: Sequence[int] = DEPTHS, n_samples: int = 4000, seed: int = 0, held_out: float = 0.25,
                  samples: Optional[LatentSamples] = None, strip_frames: int = 6, strip_span: float = 2.0,
                  min_samples_leaf: int = 5, progress: Optional[Callable[[int, int, dict], None]] = None,
                  log: Optional[Callable[[str], None]] = None) -> dict:
    """Fit and draw a surrogate tree of ``depth`` over ``directions``.

    ``directions``: 'boundary' (one per class vs the rest, fitted on the training split; on the bundled models
    about twice as faithful as PCA at depth 4), 'pca' (the first ``k`` components of W: the generator's own
    directions, independent of the classifier) or a list of specs / ``Direction``s (W directions). Fidelity is
    reported for every depth in ``depths`` on the held-out ``held_out`` fraction of ``n_samples`` seeded samples.
    """
    t0 = time.perf_counter()
    if depth < 1:
        raise ValueError(f"tree depth must be at least 1, got {depth}")
    if samples is None:
        if log:
            log(f"rendering and classifying {n_samples} samples (seed {seed})")
        samples = labelled_samples(G, classifier, n_samples, seed, progress=progress)
    train, test = samples.split(held_out, seed)
    if isinstance(directions, str):
        feats = surrogate_directions(G, directions, k, samples, train, classifier, seed)
    else:
        feats = [d if isinstance(d, Direction) else resolve_direction(d, G, classifier, seed=seed,
                                                                       samples=samples.subset(train))
                 for d in directions]
    surrogate = fit_surrogate(samples, feats, depth, depths, held_out, seed, min_samples_leaf, train, test)
    if log:
        log("held-out fidelity by depth: " + ", ".join(f"{d}: {v['held_out']:.3f}"
                                                       for d, v in sorted(surrogate.fidelity.items()))
            + f" (majority baseline {surrogate.baseline:.3f})")
    strips = split_strips(G, classifier, surrogate, strip_frames, strip_span)
    os.makedirs(os.path.join(out, "strips"), exist_ok=True)
    class_names = surrogate.class_names
    strip_files = {}
    for strip in strips:
        name = os.path.join("strips", f"node_{strip.node:02d}.png")
        write_strip(os.path.join(out, name), strip, class_names)
        strip_files[strip.node] = name
    typical = typical_samples(surrogate)
    leaf_ids = [n["id"] for n in surrogate.nodes() if n.get("leaf")]
    leaf_imgs, _ = render_ws(G, classifier, surrogate.samples.ws[[typical[i] for i in leaf_ids]])
    write_tree_figure(os.path.join(out, "tree.png"), surrogate, strips, dict(zip(leaf_ids, leaf_imgs)))
    save_torch(os.path.join(out, "directions.pt"), {
        "format": "cfgan.surrogate.directions", "version": 1, "names": surrogate.feature_names,
        "vectors": torch.stack([d.vector for d in surrogate.directions]),
        "mean": torch.from_numpy(surrogate.mean).float(), "scales": torch.from_numpy(surrogate.scales).float()})
    payload = surrogate.to_json()
    payload.update(strips=[dict(s.to_json(class_names), file=strip_files[s.node]) for s in strips],
                   strip_span=strip_span, strip_frames=strip_frames, min_samples_leaf=min_samples_leaf,
                   held_out_fraction=held_out, seconds=time.perf_counter() - t0,
                   files={"tree": "tree.png", "directions": "directions.pt", "report": "surrogate.json"})
    write_json(os.path.join(out, "surrogate.json"), payload)
    return payload
