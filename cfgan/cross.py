"""The ``cfgan cross`` job and the demo's crossing videos: subjects in, decision-crossing paths out.

Subjects are image files (inverted first), a latent file (from ``cfgan invert``) or seeds. They are run in
batches; after each batch its paths are written to ``out/<name>/`` (frames, mp4, gif, filmstrip, plot, change map,
latents, report.json) and ``out/summary.json`` is rewritten, so an interrupted run keeps what it finished.
"""
from __future__ import annotations

import json
import os
import time
from typing import Callable, List, Optional, Sequence

import torch

from cfgan.paths import cross, write_paths
from cfgan.paths.result import PathResult

#: the demo's confusable Fashion-MNIST pairs (source -> target), as class names of the bundled classifier
DEMO_PAIRS = (("Shirt", "T-shirt/top"), ("Pullover", "Coat"), ("Sneaker", "Sandal"))


def _unique(names: List[str]) -> List[str]:
    seen, out = {}, []
    for name in names:
        k = seen.get(name, 0)
        seen[name] = k + 1
        out.append(name if k == 0 else f"{name}_{k}")
    return out


def _subjects(G, images: Sequence[str], seeds: Sequence[int], latents: Optional[str]):
    """[(name, kind, payload)] where kind is 'image' (path), 'seed' (int) or 'latent' (row, file images)."""
    given = sum(bool(x) for x in (images, seeds, latents))
    if given != 1:
        raise ValueError("give exactly one of: image files, --seed/--seeds, or --latents FILE")
    if images:
        stems = [os.path.splitext(os.path.basename(p))[0] for p in images]
        return [(n, "image", p) for n, p in zip(_unique(stems), images)]
    if seeds:
        return [(f"seed{s:05d}", "seed", int(s)) for s in seeds]
    from inversion import load_latents

    code, payload = load_latents(latents, G)
    files = list((payload.get("extra") or {}).get("files") or [])
    stems = [os.path.splitext(os.path.basename(f))[0] for f in files] if len(files) == len(code) else \
        [f"latent{i:03d}" for i in range(len(code))]
    return [(n, "latent", (i, code, files[i] if files else None)) for i, n in enumerate(_unique(stems))]


def _start_for(G, batch):
    """(start for ``paths.cross``, reference images or None) for a batch of same-kind subjects."""
    kind = batch[0][1]
    if kind == "image":
        from cfgan.invert import load_images_for

        return load_images_for(G, [p for _, _, p in batch]), None
    if kind == "seed":
        return [s for _, _, s in batch], None
    rows = [r for _, _, (r, _, _) in batch]
    code = batch[0][2][1].select(rows)
    files = [f for _, _, (_, _, f) in batch]
    reference = None
    if all(f and os.path.isfile(f) for f in files):  # identity against the images that were inverted
        from cfgan.invert import load_images_for

        reference = load_images_for(G, files)
    return code, reference


def cross_files(G, classifier, out: str, target, source=None, images: Sequence[str] = (),
                seeds: Sequence[int] = (), latents: Optional[str] = None, method: str = "regularized",
                frames: int = 16, space: str = "w+", batch: int = 16, seed: int = 0, invert_steps: int = 300,
                invert_agreement: float = 0.1, lpips: bool = True, fps: float = 6.0,
                progress: Optional[Callable] = None, log: Optional[Callable[[str], None]] = None,
                **options) -> dict:
    """Run paths for every subject in batches of ``batch``; write files per path and ``out/summary.json``."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    subjects = _subjects(G, images, seeds, latents)
    os.makedirs(out, exist_ok=True)
    rows: List[dict] = []
    settings = None
    interrupted = False
    t_start = time.perf_counter()
    for s in range(0, len(subjects), batch):
        chunk = subjects[s:s + batch]
        try:
            start, reference = _start_for(G, chunk)
            result = cross(G, classifier, start, target, source, method=method, frames=frames, space=space,
                           seed=seed + s, reference=reference, invert_steps=invert_steps,
                           invert_agreement=invert_agreement, lpips=lpips, progress=progress, **options)
        except KeyboardInterrupt:
            interrupted = True
            break
        names = [name for name, _, _ in chunk]
        extras = [{"name": name, "subject": str(p if kind != "latent" else latents)}
                  for name, kind, p in chunk]
        write_paths(result, out, names, G, fps, extras)
        settings = result.settings
        for i, name in enumerate(names):
            report = result.path_report(i)
            rows.append({"name": name, "folder": name, **{k: report[k] for k in (
                "crossed", "monotone", "repaired", "crossing_index", "target_name", "source_name",
                "identity_at_crossing", "lambda", "generator_evals", "classifier_queries", "notes")},
                "first_prob": report["probs"][0], "last_prob": report["probs"][-1]})
        interrupted = result.interrupted
        _write_summary(out, method, rows, settings, time.perf_counter() - t_start, interrupted, len(subjects))
        if log:
            done = sum(r["crossed"] for r in rows)
            log(f"{len(rows)}/{len(subjects)} paths written ({done} crossed, "
                f"{sum(r['monotone'] for r in rows)} monotone)")
        if interrupted:
            break
    summary = _write_summary(out, method, rows, settings, time.perf_counter() - t_start, interrupted,
                             len(subjects))
    return summary


def _write_summary(out, method, rows, settings, seconds, interrupted, total) -> dict:
    n = len(rows)
    summary = {"method": method, "paths": n, "requested": total, "interrupted": interrupted,
               "crossed": sum(r["crossed"] for r in rows), "monotone": sum(r["monotone"] for r in rows),
               "crossing_rate": (sum(r["crossed"] for r in rows) / n) if n else None,
               "seconds": seconds, "settings": settings, "paths_detail": rows,
               "summary": os.path.join(out, "summary.json")}
    tmp = os.path.join(out, "summary.json.tmp")
    with open(tmp, "w") as f:
        json.dump(summary, f, indent=2, default=str)
    os.replace(tmp, os.path.join(out, "summary.json"))
    return summary


# -- demo ------------------------------------------------------------------------------------------------
def demo_settings(quick: bool) -> dict:
    """Path settings of the demo: ``quick`` fits the three crossings in well under a minute on 2 CPU cores."""
    if quick:
        return dict(frames=8, invert_steps=50, steps=20, search_rounds=2, search_steps=15)
    return dict(frames=16, invert_steps=300, steps=40, search_rounds=5, search_steps=40)


def demo_crossings(G, classifier, out: str, quick: bool = False, log: Optional[Callable[[str], None]] = None,
                   pairs=DEMO_PAIRS) -> dict:
    """Crossing videos for the confusable pairs, from bundled test images, with the regularised method.

    For each (source, target) pair the first bundled sample of the source class that the classifier also
    assigns to the source is inverted; the three paths run as one batch. Writes ``out/<pair>/`` per pair
    and ``out/crossings.json``; returns that summary (with the per-pair files).
    """
    from cfgan import zoo
    from cfgan.invert import load_images_for

    t0 = time.perf_counter()
    samples = zoo.zoo_samples()
    picked, files, targets, sources, names = [], [], [], [], []
    for src, dst in pairs:
        s_idx, t_idx = classifier.class_index(src), classifier.class_index(dst)
        candidates = [s for s in samples if s.label == s_idx]
        if not candidates:
            raise ValueError(f"no bundled sample of class {src!r} for the demo crossing {src} -> {dst}")
        imgs = load_images_for(G, [str(c.path) for c in candidates])
        with torch.no_grad():
            pred = classifier(imgs).argmax(1).tolist()
        k = next((j for j, p in enumerate(pred) if p == s_idx), 0)
        picked.append(imgs[k])
        files.append(str(candidates[k].path))
        targets.append(t_idx)
        sources.append(s_idx)
        names.append(f"{_slug(src)}-to-{_slug(dst)}")
    cfg = demo_settings(quick)
    frames, invert_steps = cfg.pop("frames"), cfg.pop("invert_steps")
    result: PathResult = cross(G, classifier, torch.stack(picked), targets, sources, method="regularized",
                               frames=frames, space="w+", invert_steps=invert_steps, lpips=not quick, **cfg)
    written = write_paths(result, out, names, G, fps=6.0,
                          extras=[{"name": n, "subject": f} for n, f in zip(names, files)])
    pairs_out = []
    for i, name in enumerate(names):
        report = result.path_report(i)
        pairs_out.append({"name": name, "source": report["source_name"], "target": report["target_name"],
                          "subject": files[i], "crossed": report["crossed"], "monotone": report["monotone"],
                          "crossing_index": report["crossing_index"], "probs": report["probs"],
                          "files": {k: os.path.relpath(v, out) for k, v in written[i].items()}})
        if log:
            log(f"  {report['source_name']} -> {report['target_name']}: "
                f"{'crossed' if report['crossed'] else 'did not cross'} at frame {report['crossing_index']}, "
                f"{'monotone' if report['monotone'] else 'NOT monotone'}, p {report['probs'][0]:.2f} -> "
                f"{report['probs'][-1]:.2f}")
    summary = {"pairs": pairs_out, "seconds": time.perf_counter() - t0, "quick": quick,
               "settings": result.settings}
    with open(os.path.join(out, "crossings.json"), "w") as f:
        json.dump(summary, f, indent=2, default=str)
    return summary


def _slug(name: str) -> str:
    return "".join(ch.lower() if ch.isalnum() else "-" for ch in name).strip("-").replace("--", "-")
