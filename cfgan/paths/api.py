"""``cross``: one call for every path method (captum-style: model, inputs, target, method options)."""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Union

import torch

from inversion import LatentCode, MemoryBound, check_space, latent_stats, project

from . import monotone
from .ascent import AscentSettings, ascent_paths
from .blackbox import BlackboxSettings, blackbox_paths
from .judges import judge_target, load_judges
from .probe import Probe, with_owners
from .regularized import RegularizedSettings, regularized_paths
from .result import PathResult, finalize
from .terms import ClassAgreement, EndDiversity, JudgeLogOdds

#: images per no-gradient pass when only a byte budget bounds memory (it sizes the passes with gradients only)
NO_GRAD_CHUNK_UNDER_BYTE_BOUND = 16

METHODS = {"ascent": AscentSettings, "regularized": RegularizedSettings, "blackbox": BlackboxSettings}


@dataclass
class PathExtras:
    """What a path method adds to its own objective beyond the explained classifier, for N paths.

    - ``judges`` / ``judge_targets``: the judges and, per judge, its target class per path; in the objective
      only with ``require_judges`` (``JudgeLogOdds``, weight ``judge_weight``, capped at ``judge_cap``).
    - ``subjects`` [N] and ``diversity``: several paths per subject pushed apart (``EndDiversity``).
    - ``start_values`` [N, ...]: where each path's iterate starts (restarts are jittered; frame 0 stays the
      subject's code).
    - ``memory``: ``inversion.optimize``'s memory bound, for every optimisation of the method.
    """

    judges: Sequence = ()
    judge_targets: Sequence[torch.Tensor] = ()
    require_judges: bool = False
    judge_weight: float = 1.0
    judge_cap: float = 2.0
    subjects: Optional[torch.Tensor] = None
    diversity: Optional[float] = None
    spread: float = 1.0
    start_values: Optional[torch.Tensor] = None
    memory: Optional[MemoryBound] = None

    @property
    def needs_adaptive(self) -> bool:
        return self.require_judges or self.diversity is not None or self.start_values is not None

    def judges_for(self, rows: torch.Tensor, item_mask: Optional[torch.Tensor] = None) -> Optional[JudgeLogOdds]:
        """A fresh judges' term for paths ``rows`` (None unless judges are required); ``item_mask``: the batch
        items it acts on (default all)."""
        if not (self.require_judges and self.judges):
            return None
        return JudgeLogOdds(self.judges, [t[rows] for t in self.judge_targets], self.judge_cap,
                            self.judge_weight, item_mask)

    def diversity_for(self, rows: torch.Tensor, frames: int = 1) -> Optional[EndDiversity]:
        """The diversity term over paths ``rows`` (their subjects, in that order), each ``frames`` batch items
        of which the last is the end frame."""
        if self.diversity is None:
            return None
        return EndDiversity(self.subjects[rows], self.spread, self.diversity, frames=frames)


def make_settings(method: str, options: dict):
    """The settings dataclass of ``method`` filled from ``options`` (unknown names are an error)."""
    if method not in METHODS:
        raise ValueError(f"unknown path method {method!r}: choose one of {', '.join(METHODS)}")
    cls = METHODS[method]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise ValueError(f"method {method!r} has no option {', '.join(unknown)}; its options are "
                         f"{', '.join(sorted(names))}")
    return cls(**options)


def invert_subjects(G, classifier, images: torch.Tensor, space: str = "w+", steps: int = 300,
                    losses: Optional[dict] = None, agreement: float = 0.1, seed: int = 0,
                    progress: Optional[Callable] = None, memory=None, item_seeds: Optional[Sequence[int]] = None):
    """Project images for paths: reconstruction terms plus ``agreement`` * KL(f(x) || f(G(z))).

    The agreement term (skipped for classifiers without gradients, or with ``agreement=0``) keeps each
    reconstruction classified like its image, so paths start in the subject's class. Returns the
    ``inversion.Projection``; its settings record the agreement weight used.
    """
    use = agreement > 0 and classifier.has_gradients
    extra = [ClassAgreement(classifier, images.to(G.device, torch.float32), agreement)] if use else []
    proj = project(G, images, space=space, steps=steps, losses=losses, seed=seed, progress=progress,
                   extra_terms=extra, memory=memory, item_seeds=item_seeds)
    proj.settings["class_agreement"] = agreement if use else 0.0
    return proj


def _start_code(G, classifier, start, space: str, seed: int, invert_steps: int, invert_losses,
                invert_agreement: float, progress, memory=None, item_seeds=None):
    """(code in ``space`` for N paths, reference images or None, projection settings or None)."""
    if isinstance(start, LatentCode):
        if start.space == "w+" and space == "w":
            raise ValueError("the start codes are W+ codes; W+ cannot be expressed in W: use space='w+'")
        return start.to_space(G, space), None, None
    if torch.is_tensor(start) and start.dim() == 4:
        proj = invert_subjects(G, classifier, start, space, invert_steps, invert_losses, invert_agreement,
                               seed, progress, memory, item_seeds)
        settings = dict(proj.settings, metrics=proj.metrics)
        return proj.code, start.to(G.device, torch.float32), settings
    if isinstance(start, (list, tuple, range)) and all(isinstance(s, int) for s in start) and len(start):
        return LatentCode.from_seeds(G, list(start), space), None, None
    raise TypeError("start must be a LatentCode, images [N, C, H, W] in [-1, 1] (inverted first) or a list "
                    f"of seeds; got {type(start).__name__}")


def _classes(classifier, value, n: int, what: str) -> List[int]:
    """One class index per path from a class (index or name) or a sequence of N of them."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{what} lists {len(value)} classes for {n} paths")
        return [classifier.class_index(v) for v in value]
    return [classifier.class_index(value)] * n


def restart_values(code: LatentCode, per_image: int, jitter: float, spread: float, seed: int,
                   item_seeds: Optional[Sequence[int]] = None) -> torch.Tensor:
    """Iterate starts [N * K, ...] for K paths per subject: path 0 of each subject starts on the subject's
    code, paths 1..K-1 a seeded Gaussian step away (``jitter`` code spreads per coordinate). Subject s draws
    from its own stream, ``seed + s`` (or ``item_seeds[s]``), so its restarts do not depend on the batch."""
    values = code.values.detach()
    seeds = [int(seed) + s for s in range(len(code))] if item_seeds is None else [int(v) for v in item_seeds]
    out = []
    for s in range(len(code)):
        gen = torch.Generator().manual_seed(seeds[s])
        out.append(values[s:s + 1])
        if per_image > 1:
            noise = torch.randn(per_image - 1, *values.shape[1:], generator=gen).to(values)
            out.append(values[s:s + 1] + jitter * spread * noise)
    return torch.cat(out)


def cross(G, classifier, start: Union[LatentCode, torch.Tensor, Sequence[int]], target, source=None,
          method: str = "regularized", frames: int = 16, space: str = "w+", seed: int = 0,
          reference: Optional[torch.Tensor] = None, invert_steps: int = 300,
          invert_losses: Optional[dict] = None, invert_agreement: float = 0.1, lpips: bool = True,
          lpips_net: str = "vgg", judges: Sequence = (), require_judges: bool = False, judge_weight: float = 1.0,
          judge_cap: float = 2.0, paths_per_image: int = 1, diversity: float = 5.0, restart_jitter: float = 0.3,
          memory: Union[None, int, MemoryBound] = None, item_seeds: Optional[Sequence[int]] = None,
          progress: Optional[Callable] = None, **options) -> PathResult:
    """Decision-crossing paths from ``start`` to class ``target`` of ``classifier``, in a batch.

    ``start``: a ``LatentCode`` of N items (any space; moved to ``space``), images [N, C, H, W] in [-1, 1]
    (projected into ``space`` first with ``invert_subjects``; identity is then measured against these
    images) or a list of seeds.
    ``reference``: the subject images of LatentCode/seed starts (default: the start codes' renders).
    ``target``/``source``: a class index or name, or one per subject. ``method``: 'ascent', 'regularized' or
    'blackbox'; ``options`` are that method's settings (``AscentSettings``, ``RegularizedSettings``,
    ``BlackboxSettings``), e.g. ``lam=``, ``steps=``, ``query_budget=``, ``search=``. Every reported number
    comes from one final evaluation of the returned frames.

    ``judges``: independent classifiers (anything ``load_classifier`` accepts) that see every final frame and
    label each crossed path genuine / blind-spot / mixed (``cfgan.paths.judges``). ``require_judges``: the
    judges' target log-odds (weight ``judge_weight``, each capped at ``judge_cap``) join the objective and a
    path only finishes once every judge classifies it as the target too; the explained classifier's
    probability stays monotone as before.

    ``paths_per_image`` K > 1: K paths per subject (N * K in all, subject-major), path 0 from the subject's
    code and the others from seeded jittered starts (``restart_jitter`` code spreads), pushed apart by
    ``EndDiversity`` (weight ``diversity``; 0 gives K independent restarts). ``result.subjects`` and
    ``result.ranks`` (0 = smallest pixel distance at the crossing frame) say which is which.

    ``item_seeds``: one seed per subject for its inversion jitter and restarts (default ``seed + position``):
    a job passes ``seed + item index`` so a subject's paths never depend on which batch or shard it was in.

    ``memory``: bound on the images rendered per optimisation pass (``inversion.MemoryBound`` or an int), for
    the inversion and every optimisation of the method; results equal the unbounded run's to float rounding.
    """
    from cfgan.classifiers import load_classifier

    t_begin = time.perf_counter()
    settings = make_settings(method, dict(options, **({"seed": seed} if method == "blackbox" else {})))
    if hasattr(settings, "check"):
        settings.check()
    if frames < 2:
        raise ValueError(f"a path needs at least 2 frames, got frames={frames}")
    if isinstance(paths_per_image, bool) or not isinstance(paths_per_image, int) or paths_per_image < 1:
        raise ValueError(f"paths_per_image must be an integer >= 1, got {paths_per_image!r}")
    for name, value in (("diversity", diversity), ("restart_jitter", restart_jitter),
                        ("judge_weight", judge_weight)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    if paths_per_image > 1 and restart_jitter == 0:
        raise ValueError("paths_per_image > 1 needs restart_jitter > 0: restarts from one code would coincide")
    memory = MemoryBound.of(memory)
    monotone.check_schedule(settings.schedule, frames)  # a bad schedule fails before any inversion
    space = check_space(G, space)
    classifier = load_classifier(classifier)
    if method != "blackbox" and not classifier.has_gradients:
        raise ValueError(f"classifier {classifier.name} has no gradients (a plain numpy callable): "
                         "use method='blackbox'")
    judges = load_judges(judges, classifier, G.device) if judges else []
    if require_judges and not judges:
        raise ValueError("--require-judges needs at least one --judge")
    if require_judges and any(not j.has_gradients for j in judges):
        bad = [j.name for j in judges if not j.has_gradients]
        raise ValueError(f"--require-judges needs judges with gradients; {', '.join(bad)} has none")
    n_subjects = start.shape[0] if torch.is_tensor(start) else len(start)
    targets = _classes(classifier, target, n_subjects, "target")  # bad class names fail before any inversion
    sources = None if source is None else _classes(classifier, source, n_subjects, "source")
    if sources is not None and any(a == b for a, b in zip(targets, sources)):
        raise ValueError("source and target must be different classes")
    judge_targets = [torch.tensor([judge_target(j, classifier, c) for c in targets]) for j in judges]
    t0 = time.perf_counter()
    if item_seeds is not None:
        item_seeds = [int(v) for v in item_seeds]
        if len(item_seeds) != n_subjects:
            raise ValueError(f"item_seeds lists {len(item_seeds)} seeds for {n_subjects} subjects")
        if method == "blackbox":
            raise ValueError("item_seeds is not supported by method='blackbox' (its noise is seeded per path)")
    code, images, projection = _start_code(G, classifier, start, space, seed, invert_steps, invert_losses,
                                           invert_agreement, progress, memory, item_seeds)
    t_invert = time.perf_counter() - t0
    if images is None and reference is not None:
        from inversion import check_images

        images = check_images(G, reference, "reference images")
        if images.shape[0] != n_subjects:
            raise ValueError(f"{images.shape[0]} reference images for {n_subjects} start codes")
    k_paths = paths_per_image
    subjects = torch.arange(n_subjects).repeat_interleave(k_paths)
    extras = PathExtras(judges=judges, require_judges=require_judges, judge_weight=judge_weight,
                        judge_cap=judge_cap, memory=memory)
    if k_paths > 1:
        spread = latent_stats(G, space).coord_std
        start_values = restart_values(code, k_paths, restart_jitter, spread, seed, item_seeds)
        code = code.select(subjects.tolist())
        if images is not None:
            images = images[subjects.to(images.device)]
        targets = [targets[s] for s in subjects.tolist()]
        sources = None if sources is None else [sources[s] for s in subjects.tolist()]
        judge_targets = [jt[subjects] for jt in judge_targets]
        extras = dataclasses.replace(extras, subjects=subjects, diversity=diversity if diversity > 0 else None,
                                     spread=spread, start_values=start_values.to(code.values.device))
        if method == "regularized" and (settings.lam is not None or settings.search != "adaptive"):
            raise ValueError("paths_per_image > 1 needs the adaptive search of regularised paths "
                             "(no --lambda, search='adaptive')")
    extras.judge_targets = judge_targets
    n = len(code)
    probe = Probe(G, classifier, torch.tensor(targets), None if sources is None else torch.tensor(sources))
    if memory is not None:  # the no-gradient passes (start, frame search, final report) stay within it too
        probe.eval_chunk = memory.max_items if memory.max_items is not None else NO_GRAD_CHUNK_UNDER_BYTE_BOUND
    paths = torch.arange(n)
    code = with_owners(code.detach(), paths)
    reference_probs = reference_pred = None
    given = images is not None
    with torch.no_grad():
        if not given:
            images = probe.render(code).detach()
        ref_logits = probe.logits(images, paths)  # also tells the classifier's number of classes
        if given:
            reference_probs = probe.target_prob(ref_logits, paths).cpu()
            reference_pred = ref_logits.argmax(1).cpu()
    k = ref_logits.shape[1]
    if max(targets + (sources or [])) >= k:
        raise ValueError(f"class index {max(targets + (sources or []))} is out of range for a classifier "
                         f"with {k} classes")

    if method == "ascent":
        values, info = ascent_paths(probe, code, frames, settings, progress=progress, extras=extras)
    elif method == "blackbox":
        values, info = blackbox_paths(probe, code, frames, settings, progress=progress, extras=extras)
    else:
        values, info = regularized_paths(probe, code, images, frames, settings, progress=progress, extras=extras)
    t1 = time.perf_counter()
    timings = {"invert": t_invert, **info["timings"]}
    run_settings = dict(info["settings"], method=method, frames=frames, space=space, seed=seed,
                        targets=targets, sources=sources, judges=[j.name for j in judges],
                        require_judges=require_judges, paths_per_image=k_paths,
                        memory=None if memory is None else dataclasses.asdict(memory))
    if require_judges:
        run_settings.update(judge_weight=judge_weight, judge_cap=judge_cap)
    if k_paths > 1:
        run_settings.update(diversity=diversity, restart_jitter=restart_jitter)
    if projection is not None:
        run_settings["inversion"] = {k: v for k, v in projection.items() if k != "metrics"}
    repaired = info.get("repaired", torch.zeros(n, dtype=torch.bool))

    def report(values, repaired):
        return finalize(probe, method, code, values, images, run_settings, timings, repaired,
                        lam=info.get("lam"), interrupted=info["interrupted"], lpips=lpips,
                        lpips_net=lpips_net, judges=judges)

    result = report(values, repaired)
    broken = ~result.monotone
    if bool(broken.any()) and not info["interrupted"] and method != "blackbox":
        # a final pass disagreeing with the optimiser's (different batch, float noise): repair on its numbers
        # and report again (black-box paths are only flagged: re-evaluating would exceed their query budget)
        values, fixed = monotone.repair(probe, code, values, result.probs, broken, None, settings.grid,
                                         settings.schedule)
        result = report(values, repaired | fixed)
    result.timings["finalize"] = time.perf_counter() - t1
    result.timings["total"] = time.perf_counter() - t_begin
    result.reference_probs, result.reference_predicted = reference_probs, reference_pred
    if projection is not None:
        result.settings["inversion_metrics"] = projection["metrics"]
    for key in ("queries_at_end_prob", "reached_end_prob", "end_frame_crossed", "recorded_steps", "lam_estimate",
                "lam_start", "key_slots", "key_probs"):
        if key in info:
            result.settings[key] = info[key]
    result.subjects = subjects.tolist()
    result.ranks = rank_paths(result, subjects.tolist())
    if sources is not None:
        for i in range(n):
            first = int(result.predicted[i, 0])
            if first != sources[i]:
                result.notes[i].append(f"the start frame is classified as {classifier.class_name(first)}, "
                                       f"not the source {classifier.class_name(sources[i])}")
            if reference_pred is not None and int(reference_pred[i]) != sources[i]:
                result.notes[i].append(f"the subject image is classified as "
                                       f"{classifier.class_name(int(reference_pred[i]))}, not the source "
                                       f"{classifier.class_name(sources[i])}")
    return result


def rank_paths(result: PathResult, subjects: List[int], key: str = "pixel") -> List[int]:
    """Per path, its rank among its subject's paths: crossed paths by identity distance ``key`` at the crossing
    frame (closest first), then the paths that did not cross."""
    distance = result.at_crossing(key)
    ranks = [0] * len(subjects)
    for s in sorted(set(subjects)):
        mine = [i for i, x in enumerate(subjects) if x == s]
        order = sorted(mine, key=lambda i: (distance[i] is None, distance[i] if distance[i] is not None else 0.0, i))
        for r, i in enumerate(order):
            ranks[i] = r
    return ranks
