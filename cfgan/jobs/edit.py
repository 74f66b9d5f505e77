"""``cfgan edit``: codes in (a latent file); each moved along one latent direction at several strengths, with the
classifier's view of every frame out.

One work item per code, keyed like ``cfgan cross`` keys a latent file's codes (the inverted files' names, else
``latent0000``...). Each item's folder holds its frames, ``filmstrip.png``, ``edit.mp4`` / ``edit.gif``, its
edited codes (``latents.pt``, one per strength), its class-gradient direction when it has its own, and
``report.json`` (class and probabilities per strength, crossing strengths). At the end the run folder gets
the combined ``latents.pt``, ``grid.png``, ``grid_labelled.png``, ``direction.pt`` and ``edit.json``
(reached fraction by strength, crossed fraction, median crossing strength, every image's row).

Fixed directions (boundary, PCA, a file; kept ones too) are resolved once, when the job is built, so a bad
spec fails before any folder is made; class-gradient directions are computed per batch, each image's at its
own code. Nothing an item records depends on the batch it ran in.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Union

import torch

from cfgan.data import load_image
from cfgan.edit.apply import edit_codes, shift_vectors
from cfgan.edit.crossing import evaluate_edit
from cfgan.edit.direction import Direction, load_direction
from cfgan.edit.layers import parse_layers
from cfgan.edit.outputs import LABELLED_ROWS, draw_labelled_grid, image_rows, write_frames, write_grid, write_videos
from cfgan.edit.samples import LatentSamples, check_has_w, labelled_samples
from cfgan.edit.spec import DirectionSpec, direction_identity, parse_direction_spec, resolve_direction, tensor_digest
from cfgan.edit.strengths import UNIT, parse_strengths
from generators.files import file_sha256, write_json
from inversion import LatentCode, load_latents, save_latents

from .items import latent_keys
from .runner import BatchOutput, Item, Job, JobError

DirectionLike = Union[str, DirectionSpec, Direction]
#: images (rows) in ``grid.png``
GRID_MAX = 64


def _option_error(option: str, err: Exception) -> JobError:
    """A problem with one option's value, said as ``--option: what is wrong`` (the CLI names the option)."""
    return JobError(f"{option}: {err}")


class EditJob(Job):
    command = "edit"

    def __init__(self, G, classifier, codes: Union[str, LatentCode], direction: DirectionLike,
                 strengths="-3:3:7", layers=None, keep: Sequence[DirectionLike] = (), target=None,
                 names: Optional[Sequence[str]] = None, samples: Optional[LatentSamples] = None,
                 n_samples: int = 4000, seed: int = 0, refine: int = 6, fps: float = 4.0, videos: bool = True,
                 batch: int = 16, log: Optional[Callable[[str], None]] = None):
        """``codes``: a latent file or a ``LatentCode`` (``names`` then name its images). ``direction`` and each
        of ``keep``: a spec (``class:NAME``, ``boundary:NAME``, ``boundary:A->B``, ``pca:K``, a .npy/.pt file) or
        a ``Direction``. Boundaries are fitted on ``samples``, else on ``n_samples`` samples rendered with
        ``seed``. ``target``: the class whose crossing is reported (default: the direction's own)."""
        try:
            check_has_w(G)
        except ValueError as err:
            raise JobError(str(err)) from None
        self.G, self.classifier, self.log = G, classifier, log
        if batch < 1:
            raise _option_error("--batch", f"must be at least 1, got {batch}")
        if refine < 0:
            raise _option_error("--refine", f"must be 0 or more, got {refine}")
        self.batch_size, self.seed, self.refine, self.fps, self.videos = batch, seed, refine, fps, videos
        try:
            self.strengths = parse_strengths(strengths)
        except ValueError as err:
            raise _option_error("--strengths", err) from None
        try:
            self.rows = parse_layers(layers, G)
        except ValueError as err:
            raise _option_error("--layers", err) from None
        self.options = ["--direction"] + ["--keep"] * len(keep)
        self.specs = []
        for option, spec in zip(self.options, [direction, *keep]):
            try:
                self.specs.append(spec if isinstance(spec, Direction) else parse_direction_spec(spec))
            except ValueError as err:
                raise _option_error(option, err) from None
        self._load_codes(codes, names)
        if getattr(classifier, "num_classes", 0) is None:  # learn the class count now, so class checks are exact
            with torch.no_grad():
                classifier.probs(self.code.select([0]).render(G).float().clamp(-1, 1))
        self._check_class_specs()
        self.samples = samples
        if self.samples is None and any(isinstance(s, DirectionSpec) and s.needs_samples for s in self.specs):
            if log:
                log(f"rendering {n_samples} samples to fit the boundaries (seed {seed})")
            self.samples = labelled_samples(G, classifier, n_samples, seed)
        #: resolved now (None: a class gradient, computed per batch)
        self.fixed: List[Optional[Direction]] = [self._resolve(option, spec)
                                                 for option, spec in zip(self.options, self.specs)]
        if all(d is not None for d in self.fixed):  # a direction with nothing left to edit fails now
            try:
                shift_vectors(G, self.fixed[0].select([0]), 1, self.rows, [k.select([0]) for k in self.fixed[1:]])
            except ValueError as err:
                raise _option_error("--direction", err) from None
        self.target = self._target(target)
        self.identity = self._identity()

    # -- construction -----------------------------------------------------------------------------------------
    def _load_codes(self, codes, names) -> None:
        self.latent_file: Optional[str] = None
        if isinstance(codes, LatentCode):
            self.code, files = codes, list(names) if names is not None else None
        else:
            if not os.path.isfile(codes):
                raise JobError(f"LATENT_FILE: no such file: {codes}")
            self.latent_file = codes
            self.code, payload = load_latents(codes, self.G)
            extra = payload.get("extra") or {}
            files = list(names) if names is not None else list(extra.get("files") or []) or None
            if extra.get("tuned_generator"):
                warnings.warn(f"{codes} was inverted with pivotal tuning: edit with its tuned generator "
                              f"({extra['tuned_generator']}) to see the images it reconstructs", stacklevel=3)
        n = len(self.code)
        if n == 0:
            raise JobError("no codes to edit")
        if files is not None and len(files) != n:
            raise JobError(f"{len(files)} names for {n} codes")
        if self.code.space == "w+" and self.code.values.shape[1] != self.G.num_ws:
            raise JobError(f"the codes have {self.code.values.shape[1]} W+ rows, the generator has "
                           f"num_ws={self.G.num_ws}")
        self.keys = latent_keys(files, n)

    def _check_class_specs(self) -> None:
        for option, spec in zip(self.options, self.specs):
            if isinstance(spec, DirectionSpec) and spec.kind == "class":
                try:
                    self.classifier.class_index(spec.classes[0])
                except ValueError as err:
                    raise _option_error(option, err) from None
                if not getattr(self.classifier, "has_gradients", True):
                    raise _option_error(option, f"classifier {self.classifier.name} has no gradients: use a "
                                                "fitted boundary (boundary:CLASS) instead of class:CLASS")

    def _resolve(self, option: str, spec) -> Optional[Direction]:
        if isinstance(spec, DirectionSpec) and spec.kind == "class":
            return None
        try:
            d = resolve_direction(spec, self.G, self.classifier, samples=self.samples, seed=self.seed)
        except (ValueError, FileNotFoundError) as err:
            raise _option_error(option, err) from None
        if d.per_image and len(d) != len(self.code):
            raise _option_error(option, f"direction {d.name!r} holds {len(d)} per-image vectors for "
                                        f"{len(self.code)} codes")
        if d.kind == "boundary" and self.log:
            p = d.provenance
            self.log(f"{d.name}: held-out accuracy {p['held_out_accuracy']:.3f} (balanced "
                     f"{p['held_out_balanced_accuracy']:.3f}) on {p['n_held_out']} samples")
        return d

    def _target(self, target) -> Optional[int]:
        option, name = "--target", target
        if name is None:
            spec, fixed = self.specs[0], self.fixed[0]
            option, name = "--direction", (spec.classes[0] if fixed is None else fixed.target)
        if name is None:
            return None
        try:
            return self.classifier.class_index(name)
        except ValueError as err:
            raise _option_error(option, err) from None

    # -- the runner's side ------------------------------------------------------------------------------------
    def _identity(self) -> dict:
        """What names the inputs (fingerprints computed once)."""
        if self.latent_file is not None:
            codes = {"latents": os.path.abspath(self.latent_file), "latents_sha256": file_sha256(self.latent_file)}
        else:
            c = self.code
            codes = {"codes_sha": tensor_digest(c.values, c.c, *(c.noise or [])), "names": self.keys}
        return {**codes, "direction": direction_identity(self.specs[0]),
                "keep": [direction_identity(s) for s in self.specs[1:]]}

    def settings(self) -> dict:
        samples = None if self.samples is None else {"n": len(self.samples), "seed": self.samples.seed}
        return {"generator": getattr(self.G, "source", None), "classifier": getattr(self.classifier, "name", None),
                **self.identity, "strengths": self.strengths, "layers": self.rows, "target": self.target,
                "samples": samples, "seed": self.seed, "refine": self.refine, "fps": self.fps, "videos": self.videos}

    def count(self) -> int:
        return len(self.code)

    def items(self):
        return (Item(key, i, i) for i, key in enumerate(self.keys))

    def run(self, items: List[Item], step_progress: Callable) -> BatchOutput:
        rows = [item.payload for item in items]
        part = self.code.select(rows)
        directions = [d.select(rows) if d is not None else resolve_direction(s, self.G, self.classifier, code=part)
                      for d, s in zip(self.fixed, self.specs)]  # per-image directions: this batch's rows
        edit = edit_codes(self.G, part, directions[0], self.strengths, self.rows, directions[1:])
        report = evaluate_edit(self.G, self.classifier, edit, self.target, self.refine, progress=step_progress)
        return BatchOutput([(edit, report, i) for i in range(len(items))])

    @property
    def class_names(self) -> Optional[List[str]]:
        names = getattr(self.classifier, "class_names", None)
        return list(names) if names else None

    def _class_name(self, k: Optional[int]) -> Optional[str]:
        return None if k is None else (self.class_names[k] if self.class_names else str(k))

    def write(self, item: Item, output, folder: Path) -> dict:
        edit, report, i = output
        one = report.select([i])
        kept = None if edit.kept_fraction is None else edit.kept_fraction[i:i + 1]
        row = image_rows(one, self.strengths, [item.key], edit.sigma[i:i + 1], kept, self.class_names,
                         item.index)[0]
        files = write_frames(str(folder), one.images[0])
        if self.videos:
            files.update(write_videos(str(folder), one, 0, "edit", self.fps))
        files["latents"] = save_latents(str(folder / "latents.pt"), edit.frames(i), self.G,
                                        metrics={"p_tracked": [f["p_tracked"] for f in row["frames"]]},
                                        settings=self.settings(),
                                        extra={"strengths": self.strengths, "name": item.key, "index": item.index})
        if edit.direction.per_image:  # its own class gradient: kept with the item, joined in ``finish``
            files["direction"] = edit.direction.select([i]).save(str(folder / "direction.pt"), self.G)
        row["files"] = {k: os.path.relpath(v, folder) for k, v in files.items()}
        write_json(folder / "report.json", row)
        row["files"] = {k: f"{item.key}/{v}" for k, v in row["files"].items()}
        return row

    def describe(self, record: dict) -> str:
        if record["already_target"]:
            return f"already {self._class_name(self.target)}"
        if record["crossing_strength"] is None:
            return f"{record['start_class']}, did not cross"
        return f"{record['start_class']} -> {record['crossed_to']} at {record['crossing_strength']:+.2f} sigma"

    def _direction(self, out: Path, ordered: List[dict]) -> Direction:
        """The edit direction as one ``Direction`` (per-image ones joined from the items' files)."""
        if self.fixed[0] is not None:
            return self.fixed[0]
        joined = Direction.cat([load_direction(str(out / r["files"]["direction"]), self.G) for r in ordered])
        joined.provenance.pop("file", None)
        return joined

    def _describe_keep(self) -> List[dict]:
        return [d.describe() if d is not None else
                {"name": s.text, "kind": "gradient", "per_image": True, "target": s.classes[0]}
                for d, s in zip(self.fixed[1:], self.specs[1:])]

    def finish(self, out: Path, records: dict) -> dict:
        ordered = [records[k] for k in self.keys if k in records]
        if not ordered:
            return {}
        direction = self._direction(out, ordered)
        tname = self._class_name(self.target)
        settings = {"direction": direction.describe(), "strengths": self.strengths, "strength_unit": UNIT,
                    "layers": self.rows, "keep": self._describe_keep(), "target": tname,
                    "class_names": self.class_names, "refine": self.refine, "seed": self.seed,
                    "latent_file": None if self.latent_file is None else os.path.abspath(self.latent_file)}
        if self.samples is not None:
            settings["samples"] = {"n": len(self.samples), "seed": self.samples.seed,
                                   "counts": self.samples.class_counts()}
        files = {"latents": "latents.pt", "grid": "grid.png", "grid_labelled": "grid_labelled.png",
                 "direction": "direction.pt", "report": "edit.json"}
        names = [r["name"] for r in ordered]
        codes = [load_latents(str(out / r["files"]["latents"]))[0] for r in ordered]
        save_latents(str(out / files["latents"]), LatentCode.cat(codes), self.G, settings=settings,
                     extra={"strengths": self.strengths, "image_index": [r["index"] for r in ordered
                                                                          for _ in self.strengths],
                            "names": names, "edit": True})
        shown = ordered[:GRID_MAX]
        images = torch.stack([torch.stack([load_image(out / r["files"]["frames"] / f"frame_{j:03d}.png")
                                           for j in range(len(self.strengths))]) for r in shown])
        write_grid(str(out / files["grid"]), images)
        title = (f"{direction.name}, layers {self.rows[0]}-{self.rows[-1]}"
                 + (f", keep {', '.join(k['name'] for k in settings['keep'])}" if settings["keep"] else "")
                 + (f"; label: class, p({tname})" if tname else "; label: class, p(start class)"))
        draw_labelled_grid(str(out / files["grid_labelled"]), images[:LABELLED_ROWS],
                           [r["frames"] for r in shown[:LABELLED_ROWS]], names, title)
        direction.save(str(out / files["direction"]), self.G)
        eligible = [r for r in ordered if not r["already_target"]]
        by_strength = {f"{s:g}": (sum(r["frames"][j]["reached"] for r in eligible) / len(eligible)
                                  if eligible else None) for j, s in enumerate(self.strengths)}
        crossed = [r["crossing_strength"] for r in ordered if r["crossing_strength"] is not None]
        summary = {
            "images": len(ordered), "requested": self.count(), "complete": len(ordered) == self.count(),
            "direction": direction.describe(), "target": tname, "strengths": self.strengths, "strength_unit": UNIT,
            "crossed": len(crossed), "already_target": len(ordered) - len(eligible),
            "crossed_fraction": len(crossed) / len(eligible) if eligible else None,
            "reached_fraction_by_strength": by_strength,
            "median_crossing_strength": float(torch.tensor(crossed).median()) if crossed else None,
            "grid_images": len(shown), "settings": settings, "files": files, "images_detail": ordered,
        }
        write_json(out / files["report"], summary)
        return {k: summary[k] for k in ("direction", "target", "strengths", "crossed", "already_target",
                                        "crossed_fraction", "reached_fraction_by_strength",
                                        "median_crossing_strength", "files")}
