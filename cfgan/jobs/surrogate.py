"""``cfgan surrogate``: a global surrogate of the classifier, a shallow decision tree over a few latent
directions, with each split drawn as an edit.

One work item: the fit. A surrogate is one global model (samples rendered and classified, feature directions
fitted on their training split, trees of every depth grown and scored on the held-out split); its split
strips are a few renders each and mean nothing without the tree they belong to, so items per strip would only
make a resumed run fit the tree again. The item's files go straight into the run folder (``layout='file'``):
``surrogate.json`` (features, nodes, fidelity by depth), ``tree.png``, ``strips/node_XX.png`` and
``directions.pt``. Ctrl-C during the fit leaves no file behind; the same command starts it again.

Directions that need no samples (PCA, files) are resolved when the job is built, so bad ones fail before any
folder is made; boundaries are fitted on the training split of the samples, inside the fit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Optional, Sequence, Union

import torch

from cfgan.edit.direction import Direction
from cfgan.edit.samples import LatentSamples, check_has_w, labelled_samples
from cfgan.edit.spec import DirectionSpec, direction_identity, parse_direction_spec, resolve_direction
from cfgan.surrogate.render import render_ws, split_strips, typical_samples, write_strip, write_tree_figure
from cfgan.surrogate.tree import DEPTHS, fit_surrogate, surrogate_directions
from generators.files import torch_save, write_json

from .runner import BatchOutput, Item, Job, JobError

KINDS = ("boundary", "pca")


class SurrogateJob(Job):
    command = "surrogate"
    layout = "file"

    def __init__(self, G, classifier, directions: Union[str, Sequence] = "boundary", k: int = 8, depth: int = 4,
                 depths: Sequence[int] = DEPTHS, n_samples: int = 4000, seed: int = 0, held_out: float = 0.25,
                 samples: Optional[LatentSamples] = None, strip_frames: int = 6, strip_span: float = 2.0,
                 min_samples_leaf: int = 5):
        """``directions``: 'boundary' (one per class vs the rest, fitted on the training split; on the bundled
        models about twice as faithful as PCA at depth 4), 'pca' (the first ``k`` components of W: the
        generator's own directions, independent of the classifier) or a list of specs / ``Direction``s (W
        directions). Fidelity is reported for every depth in ``depths`` on the held-out ``held_out`` fraction of
        ``n_samples`` seeded samples (or of ``samples``)."""
        try:
            check_has_w(G)
        except ValueError as err:
            raise JobError(str(err)) from None
        if getattr(G, "c_dim", 0):
            raise JobError("surrogates are not available for conditional generators yet")
        checks = (("--depth", depth >= 1, f"must be at least 1, got {depth}"),
                  ("--samples", samples is not None or n_samples >= 10, f"must be at least 10, got {n_samples}"),
                  ("--held-out", 0 < held_out < 1, f"must be a fraction in (0, 1), got {held_out}"),
                  ("--strip-frames", strip_frames >= 2, f"must be at least 2, got {strip_frames}"),
                  ("--min-samples-leaf", min_samples_leaf >= 1, f"must be at least 1, got {min_samples_leaf}"))
        for option, ok, problem in checks:
            if not ok:
                raise JobError(f"{option}: {problem}")
        self.G, self.classifier, self.k, self.depth = G, classifier, k, depth
        self.depths = sorted({int(d) for d in depths})
        self.n_samples, self.seed, self.held_out, self.samples = n_samples, seed, held_out, samples
        self.strip_frames, self.strip_span, self.min_samples_leaf = strip_frames, strip_span, min_samples_leaf
        self.kind = directions if isinstance(directions, str) else None
        self.specs: List = []
        self.fixed: List[Optional[Direction]] = []
        if self.kind is not None:
            if self.kind not in KINDS:
                raise JobError(f"--directions: must be one of {', '.join(KINDS)}, got {self.kind!r}")
            if self.kind == "pca":
                try:
                    self.fixed = surrogate_directions(G, "pca", k, seed=seed)
                except ValueError as err:
                    raise JobError(f"--k: {err}") from None
        else:
            for spec in directions:
                self.specs.append(self._parse(spec))
            self.fixed = [None if isinstance(s, DirectionSpec) and s.needs_samples else self._resolve(s)
                          for s in self.specs]

    def _parse(self, spec):
        if isinstance(spec, Direction):
            return spec
        try:
            spec = parse_direction_spec(spec)
        except ValueError as err:
            raise JobError(f"--directions: {err}") from None
        if spec.kind == "class":
            raise JobError(f"--directions: {spec.text} is a gradient at each image; a surrogate's features are "
                           "W directions shared by all samples (boundary:, pca:K or a file)")
        return spec

    def _resolve(self, spec) -> Direction:
        try:
            d = resolve_direction(spec, self.G, self.classifier, seed=self.seed)
        except (ValueError, FileNotFoundError) as err:
            raise JobError(f"--directions: {err}") from None
        if d.per_image or d.space != "w":
            raise JobError(f"--directions: {d.name!r} is {'per image' if d.per_image else 'a W+ direction'}; "
                           "a surrogate's features are W directions shared by all samples")
        return d

    def settings(self) -> dict:
        samples = ({"n": self.n_samples, "seed": self.seed} if self.samples is None else
                   {"given": len(self.samples), "seed": self.samples.seed})
        directions = self.kind if self.kind is not None else [direction_identity(s) for s in self.specs]
        return {"generator": getattr(self.G, "source", None), "classifier": getattr(self.classifier, "name", None),
                "directions": directions, "k": self.k if self.kind == "pca" else None, "depth": self.depth,
                "depths": self.depths, "samples": samples, "seed": self.seed, "held_out": self.held_out,
                "strip_frames": self.strip_frames, "strip_span": self.strip_span,
                "min_samples_leaf": self.min_samples_leaf}

    def count(self) -> int:
        return 1

    def items(self):
        return iter([Item("surrogate", 0)])

    def _features(self, samples: LatentSamples, train) -> List[Direction]:
        if self.kind == "boundary":
            return surrogate_directions(self.G, "boundary", self.k, samples, train, self.classifier, self.seed)
        if self.kind == "pca":
            return list(self.fixed)
        fit_on = samples.subset(train)  # boundaries on the training split only: held-out fidelity stays held out
        return [d if d is not None else resolve_direction(s, self.G, self.classifier, samples=fit_on, seed=self.seed)
                for d, s in zip(self.fixed, self.specs)]

    def run(self, items: List[Item], step_progress: Callable) -> BatchOutput:
        samples = self.samples
        if samples is None:
            samples = labelled_samples(self.G, self.classifier, self.n_samples, self.seed, progress=step_progress)
        train, test = samples.split(self.held_out, self.seed)
        surrogate = fit_surrogate(samples, self._features(samples, train), self.depth, self.depths, self.held_out,
                                  self.seed, self.min_samples_leaf, train, test)
        strips = split_strips(self.G, self.classifier, surrogate, self.strip_frames, self.strip_span)
        typical = typical_samples(surrogate)
        leaf_ids = [n["id"] for n in surrogate.nodes() if n.get("leaf")]
        leaf_images, _ = render_ws(self.G, self.classifier, surrogate.samples.ws[[typical[i] for i in leaf_ids]])
        return BatchOutput([(surrogate, strips, dict(zip(leaf_ids, leaf_images)))])

    def write(self, item: Item, output, folder: Path) -> dict:
        surrogate, strips, leaf_images = output
        class_names = surrogate.class_names
        strip_files = {}
        for strip in strips:
            name = f"strips/node_{strip.node:02d}.png"
            write_strip(str(folder / name), strip, class_names)
            strip_files[strip.node] = name
        write_tree_figure(str(folder / "tree.png"), surrogate, strips, leaf_images)
        torch_save({"format": "cfgan.surrogate.directions", "version": 1, "names": surrogate.feature_names,
                    "vectors": torch.stack([d.vector for d in surrogate.directions]),
                    "mean": torch.from_numpy(surrogate.mean).float(),
                    "scales": torch.from_numpy(surrogate.scales).float()}, folder / "directions.pt")
        files = {"tree": "tree.png", "directions": "directions.pt", "report": "surrogate.json"}
        payload = surrogate.to_json()
        payload.update(strips=[dict(s.to_json(class_names), file=strip_files[s.node]) for s in strips],
                       strip_span=self.strip_span, strip_frames=self.strip_frames,
                       min_samples_leaf=self.min_samples_leaf, held_out_fraction=self.held_out, files=files)
        write_json(folder / "surrogate.json", payload)
        return {"depth": surrogate.depth, "features": surrogate.feature_names,
                "fidelity_by_depth": payload["fidelity_by_depth"], "majority_baseline": surrogate.baseline,
                "splits": len(strips), "files": dict(files, strips=sorted(strip_files.values()))}

    def describe(self, record: dict) -> str:
        fidelity = record["fidelity_by_depth"][str(record["depth"])]["held_out"]
        return (f"depth {record['depth']}, held-out fidelity {fidelity:.3f}, "
                f"majority baseline {record['majority_baseline']:.3f}")

    def finish(self, out: Path, records: dict) -> dict:
        record = records.get("surrogate")
        return dict(record) if record else {}
