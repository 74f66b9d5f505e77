"""The ``cfgan edit`` job: codes (a latent file) in; edited latents, grid, videos and a JSON report out.

``edit_latent_file`` reads a latent file (from ``cfgan invert``, ``cross`` or ``am``) and calls ``run_edit``,
which works on any ``LatentCode``. Images run in batches; after each batch every output is rewritten
(latents, grids, ``edit.json``) and that batch's videos are written, so Ctrl-C keeps the finished batches.
"""
from __future__ import annotations

import os
import time
from typing import Callable, List, Optional, Sequence, Union

import torch

from inversion import LatentCode, load_latents, save_latents

from .apply import edit_codes
from .crossing import EditReport, evaluate_edit
from .direction import Direction
from .files import write_json
from .layers import parse_layers
from .outputs import image_rows, write_grid, write_labelled_grid, write_videos
from .samples import LatentSamples, labelled_samples
from .spec import DirectionSpec, parse_direction_spec, resolve_direction
from .strengths import UNIT, parse_strengths

DirectionLike = Union[str, DirectionSpec, Direction]


def _unique(names: Sequence[str]) -> List[str]:
    seen, out = {}, []
    for name in names:
        k = seen.get(name, 0)
        seen[name] = k + 1
        out.append(name if k == 0 else f"{name}_{k}")
    return out


def latent_names(payload: dict, n: int) -> List[str]:
    """Names of a latent file's codes: the stems of the files they were inverted from, else image000..."""
    files = list((payload.get("extra") or {}).get("files") or [])
    if len(files) == n:
        return _unique([os.path.splitext(os.path.basename(str(f)))[0] for f in files])
    return [f"image{i:03d}" for i in range(n)]


def _per_batch(spec) -> bool:
    return isinstance(spec, DirectionSpec) and spec.kind == "class"


def run_edit(G, classifier, code: LatentCode, direction: DirectionLike, strengths="-3:3:7", out: str = "edit",
             layers=None, keep: Sequence[DirectionLike] = (), target=None, names: Optional[Sequence[str]] = None,
             samples: Optional[LatentSamples] = None, n_samples: int = 4000, seed: int = 0, batch: int = 16,
             refine: int = 6, fps: float = 4.0, videos: bool = True, settings: Optional[dict] = None,
             progress: Optional[Callable[[int, int, dict], None]] = None,
             log: Optional[Callable[[str], None]] = None) -> dict:
    """Edit ``code`` along ``direction`` at each strength and write everything into ``out``.

    ``direction`` and each of ``keep``: a spec (``class:NAME``, ``boundary:NAME``, ``boundary:A->B``, ``pca:K``,
    a .npy/.pt file) or a ``Direction``. ``strengths``: text (``-3:3:7``, ``-1,0,1``) or numbers, in sigma
    units (see ``cfgan.edit.strengths``). ``layers``: ``None``/'all', 'coarse', 'middle', 'fine', '0-5' or
    rows. ``target``: the class whose crossing is reported (default: the direction's own target, if any).
    Boundaries are fitted on ``samples`` or on ``n_samples`` seeded samples (rendered once, shared).
    Returns the summary (also written to ``out/edit.json``).
    """
    t0 = time.perf_counter()
    strengths = parse_strengths(strengths)
    rows_edited = parse_layers(layers, G)
    specs = [d if isinstance(d, Direction) else parse_direction_spec(d) for d in [direction, *keep]]
    if target is not None:
        classifier.class_index(target)
    if len(code) == 0:
        raise ValueError("no codes to edit")
    if names is None:
        names = [f"image{i:03d}" for i in range(len(code))]
    if len(names) != len(code):
        raise ValueError(f"{len(names)} names for {len(code)} codes")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    if any(isinstance(s, DirectionSpec) and s.needs_samples for s in specs) and samples is None:
        if log:
            log(f"rendering {n_samples} samples to fit the boundaries (seed {seed})")
        samples = labelled_samples(G, classifier, n_samples, seed)
    fixed = [None if _per_batch(s) else resolve_direction(s, G, classifier, samples=samples, seed=seed)
             for s in specs]
    for d in fixed:
        if d is not None and d.kind == "boundary" and log:
            p = d.provenance
            log(f"{d.name}: held-out accuracy {p['held_out_accuracy']:.3f} (balanced "
                f"{p['held_out_balanced_accuracy']:.3f}) on {p['n_held_out']} samples")
    os.makedirs(out, exist_ok=True)
    if videos:
        os.makedirs(os.path.join(out, "videos"), exist_ok=True)
    class_names = list(classifier.class_names) if getattr(classifier, "class_names", None) else None
    codes: List[LatentCode] = []
    reports: List[EditReport] = []
    rows: List[dict] = []
    vectors: List[torch.Tensor] = []
    edit = None
    interrupted = False
    n = len(code)
    for s in range(0, n, batch):
        idx = list(range(s, min(s + batch, n)))
        part = code.select(idx)
        try:
            dirs = [f.select(idx) if f is not None else resolve_direction(sp, G, classifier, code=part)
                    for f, sp in zip(fixed, specs)]  # per-image directions: this batch's rows
            edit = edit_codes(G, part, dirs[0], strengths, rows_edited, dirs[1:])
            report = evaluate_edit(G, classifier, edit, target, refine)
        except KeyboardInterrupt:
            interrupted = True
            break
        codes.append(edit.code)
        reports.append(report)
        vectors.append(dirs[0].vector)
        batch_names = list(names[s:s + len(idx)])
        batch_rows = image_rows(report, strengths, batch_names, edit.sigma, edit.kept_fraction, class_names, s)
        if videos:
            for i, row in enumerate(batch_rows):
                files = write_videos(os.path.join(out, "videos"), report, i, row["name"], fps)
                row["videos"] = {k: os.path.relpath(v, out) for k, v in files.items()}
        rows.extend(batch_rows)
        summary = _write(out, G, classifier, codes, reports, rows, vectors, names, edit, strengths, target,
                         settings, samples, time.perf_counter() - t0, False, n)
        if progress is not None:
            progress(len(rows), n, {})
        if log:
            log(f"{len(rows)}/{n} images edited ({summary['crossed']} crossed)")
    if not rows:  # interrupted before the first batch finished: nothing to write
        raise KeyboardInterrupt
    return _write(out, G, classifier, codes, reports, rows, vectors, names, edit, strengths, target, settings,
                  samples, time.perf_counter() - t0, interrupted, n)


def _write(out, G, classifier, codes, reports, rows, vectors, names, edit, strengths, target, settings, samples,
           seconds, interrupted, requested) -> dict:
    done = len(rows)
    images = torch.cat([r.images for r in reports])
    merged = EditReport(images, torch.cat([r.probs for r in reports]), torch.cat([r.start_images for r in reports]),
                        torch.cat([r.start_probs for r in reports]), reports[0].target,
                        sum((r.crossing for r in reports), []), sum((r.crossed_to for r in reports), []),
                        sum((r.crossing_negative for r in reports), []),
                        sum((r.crossed_to_negative for r in reports), []))
    class_names = list(classifier.class_names) if getattr(classifier, "class_names", None) else None
    t = merged.target
    tname = None if t is None else (class_names[t] if class_names else str(t))
    edit_settings = {k: v for k, v in edit.settings().items() if k not in ("sigma", "kept_fraction")}
    edit_settings.update(target=tname, class_names=class_names, **(settings or {}))
    if samples is not None:
        edit_settings["samples"] = {"n": len(samples), "seed": samples.seed, "counts": samples.class_counts()}
    files = {"latents": "latents.pt", "grid": "grid.png", "grid_labelled": "grid_labelled.png",
             "direction": "direction.pt", "report": "edit.json"}
    latents = LatentCode.cat(codes)
    save_latents(os.path.join(out, files["latents"]), latents, G, settings=edit_settings,
                 extra={"strengths": strengths, "image_index": [i for i in range(done) for _ in strengths],
                        "names": list(names[:done]), "edit": True})
    write_grid(os.path.join(out, files["grid"]), images)
    title = f"{edit.direction.name}, layers {edit.rows[0]}-{edit.rows[-1]}" + \
        (f", keep {', '.join(k.name for k in edit.keep)}" if edit.keep else "") + \
        (f"; label: class, p({tname})" if tname else "; label: class, p(start class)")
    write_labelled_grid(os.path.join(out, files["grid_labelled"]), merged, strengths, names[:done], class_names,
                        title)
    direction = edit.direction
    if direction.per_image:
        direction = Direction(direction.name, direction.kind, torch.cat(vectors), True, direction.target,
                              {k: v for k, v in direction.provenance.items() if not isinstance(v, list)})
    direction.save(os.path.join(out, files["direction"]), G)
    reached = merged.reached()
    eligible = ~merged.already_target
    by_strength = {f"{s:g}": (float(reached[eligible, j].float().mean()) if bool(eligible.any()) else None)
                   for j, s in enumerate(strengths)}
    crossed = [r["crossing_strength"] for r in rows if r["crossing_strength"] is not None]
    summary = {
        "images": done, "requested": requested, "interrupted": interrupted, "seconds": seconds,
        "direction": edit.direction.describe(), "target": tname, "strengths": strengths, "strength_unit": UNIT,
        "crossed": len(crossed), "already_target": int((~eligible).sum()),
        "crossed_fraction": (len(crossed) / int(eligible.sum())) if bool(eligible.any()) else None,
        "reached_fraction_by_strength": by_strength,
        "median_crossing_strength": float(torch.tensor(crossed).median()) if crossed else None,
        "settings": edit_settings, "files": files, "images_detail": rows,
    }
    write_json(os.path.join(out, files["report"]), summary)
    return summary


def edit_latent_file(G, classifier, latent_file: str, direction: DirectionLike, strengths="-3:3:7",
                     out: str = "edit", **options) -> dict:
    """``run_edit`` on the codes of a latent file (names from the files they were inverted from)."""
    code, payload = load_latents(latent_file, G)
    extra = payload.get("extra") or {}
    if extra.get("tuned_generator"):
        import warnings

        warnings.warn(f"{latent_file} was inverted with pivotal tuning: edit with its tuned generator "
                      f"({extra['tuned_generator']}) to see the images it reconstructs", stacklevel=2)
    names = options.pop("names", None) or latent_names(payload, len(code))
    settings = dict(options.pop("settings", None) or {}, latent_file=os.path.abspath(latent_file))
    return run_edit(G, classifier, code, direction, strengths, out, names=names, settings=settings, **options)
