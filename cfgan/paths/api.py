"""``cross``: one call for every path method (captum-style: model, inputs, target, method options)."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, List, Optional, Sequence, Union

import torch

from inversion import LatentCode, check_space, project

from . import monotone
from .ascent import AscentSettings, ascent_paths
from .blackbox import BlackboxSettings, blackbox_paths
from .probe import Probe, with_owners
from .regularized import RegularizedSettings, regularized_paths
from .result import PathResult, finalize
from .terms import ClassAgreement

METHODS = {"ascent": AscentSettings, "regularized": RegularizedSettings, "blackbox": BlackboxSettings}


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
                    progress: Optional[Callable] = None):
    """Project images for paths: reconstruction terms plus ``agreement`` * KL(f(x) || f(G(z))).

    The agreement term (skipped for classifiers without gradients, or with ``agreement=0``) keeps each
    reconstruction classified like its image, so paths start in the subject's class. Returns the
    ``inversion.Projection``; its settings record the agreement weight used.
    """
    use = agreement > 0 and classifier.has_gradients
    extra = [ClassAgreement(classifier, images.to(G.device, torch.float32), agreement)] if use else []
    proj = project(G, images, space=space, steps=steps, losses=losses, seed=seed, progress=progress,
                   extra_terms=extra)
    proj.settings["class_agreement"] = agreement if use else 0.0
    return proj


def _start_code(G, classifier, start, space: str, seed: int, invert_steps: int, invert_losses,
                invert_agreement: float, progress):
    """(code in ``space`` for N paths, reference images or None, projection settings or None)."""
    if isinstance(start, LatentCode):
        if start.space == "w+" and space == "w":
            raise ValueError("the start codes are W+ codes; W+ cannot be expressed in W: use space='w+'")
        return start.to_space(G, space), None, None
    if torch.is_tensor(start) and start.dim() == 4:
        proj = invert_subjects(G, classifier, start, space, invert_steps, invert_losses, invert_agreement,
                               seed, progress)
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


def cross(G, classifier, start: Union[LatentCode, torch.Tensor, Sequence[int]], target, source=None,
          method: str = "regularized", frames: int = 16, space: str = "w+", seed: int = 0,
          reference: Optional[torch.Tensor] = None, invert_steps: int = 300,
          invert_losses: Optional[dict] = None, invert_agreement: float = 0.1, lpips: bool = True,
          lpips_net: str = "vgg",
          progress: Optional[Callable] = None, **options) -> PathResult:
    """Decision-crossing paths from ``start`` to class ``target`` of ``classifier``, in a batch.

    ``start``: a ``LatentCode`` of N items (any space; moved to ``space``), images [N, C, H, W] in [-1, 1]
    (projected into ``space`` first with ``invert_subjects``; identity is then measured against these
    images) or a list of seeds.
    ``reference``: the subject images of LatentCode/seed starts (default: the start codes' renders).
    ``target``/``source``: a class index or name, or one per path. ``method``: 'ascent', 'regularized' or
    'blackbox'; ``options`` are that method's settings (``AscentSettings``, ``RegularizedSettings``,
    ``BlackboxSettings``), e.g. ``lam=``, ``steps=``, ``query_budget=``. Every reported number comes from
    one final evaluation of the returned frames.
    """
    from cfgan.classifiers import load_classifier

    t_begin = time.perf_counter()
    settings = make_settings(method, dict(options, **({"seed": seed} if method == "blackbox" else {})))
    if frames < 2:
        raise ValueError(f"a path needs at least 2 frames, got frames={frames}")
    monotone.check_schedule(settings.schedule, frames)  # a bad schedule fails before any inversion
    space = check_space(G, space)
    classifier = load_classifier(classifier)
    if method != "blackbox" and not classifier.has_gradients:
        raise ValueError(f"classifier {classifier.name} has no gradients (a plain numpy callable): "
                         "use method='blackbox'")
    n = start.shape[0] if torch.is_tensor(start) else len(start)
    targets = _classes(classifier, target, n, "target")  # bad class names fail before any inversion
    sources = None if source is None else _classes(classifier, source, n, "source")
    if sources is not None and any(a == b for a, b in zip(targets, sources)):
        raise ValueError("source and target must be different classes")
    t0 = time.perf_counter()
    code, images, projection = _start_code(G, classifier, start, space, seed, invert_steps, invert_losses,
                                           invert_agreement, progress)
    t_invert = time.perf_counter() - t0
    if images is None and reference is not None:
        from inversion import check_images

        images = check_images(G, reference, "reference images")
        if images.shape[0] != n:
            raise ValueError(f"{images.shape[0]} reference images for {n} start codes")
    probe = Probe(G, classifier, torch.tensor(targets), None if sources is None else torch.tensor(sources))
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
        values, info = ascent_paths(probe, code, frames, settings, progress=progress)
    elif method == "blackbox":
        values, info = blackbox_paths(probe, code, frames, settings, progress=progress)
    else:
        values, info = regularized_paths(probe, code, images, frames, settings, progress=progress)
    t1 = time.perf_counter()
    timings = {"invert": t_invert, **info["timings"]}
    run_settings = dict(info["settings"], method=method, frames=frames, space=space, seed=seed,
                        targets=targets, sources=sources)
    if projection is not None:
        run_settings["inversion"] = {k: v for k, v in projection.items() if k != "metrics"}
    repaired = info.get("repaired", torch.zeros(n, dtype=torch.bool))

    def report(values, repaired):
        return finalize(probe, method, code, values, images, run_settings, timings, repaired,
                        lam=info.get("lam"), interrupted=info["interrupted"], lpips=lpips,
                        lpips_net=lpips_net)

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
    for key in ("queries_at_end_prob", "reached_end_prob", "end_frame_crossed", "recorded_steps"):
        if key in info:
            result.settings[key] = info[key]
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
