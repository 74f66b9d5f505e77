"""``cross``: one call for every path method (captum-style: model, inputs, target, method options)."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional, Sequence, Union

import torch

from inversion import LatentCode, check_space

from .ascent import AscentSettings, ascent_paths
from .blackbox import BlackboxSettings, blackbox_paths
from .probe import Probe, with_owners
from .regularized import RegularizedSettings, regularized_paths
from .result import PathResult, finalize

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


def _start_code(G, start, space: str, seed: int, invert_steps: int, invert_losses, progress):
    """(code in ``space`` for N paths, reference images or None, projection settings or None)."""
    if isinstance(start, LatentCode):
        if start.space == "w+" and space == "w":
            raise ValueError("the start codes are W+ codes; W+ cannot be expressed in W: use space='w+'")
        return start.to_space(G, space), None, None
    if torch.is_tensor(start) and start.dim() == 4:
        from inversion import project

        proj = project(G, start, space=space, steps=invert_steps, losses=invert_losses, seed=seed,
                       progress=progress)
        settings = dict(proj.settings, metrics=proj.metrics)
        return proj.code, start.to(G.device, torch.float32), settings
    if isinstance(start, (list, tuple, range)) and all(isinstance(s, int) for s in start) and len(start):
        return LatentCode.from_seeds(G, list(start), space), None, None
    raise TypeError("start must be a LatentCode, images [N, C, H, W] in [-1, 1] (inverted first) or a list "
                    f"of seeds; got {type(start).__name__}")


def cross(G, classifier, start: Union[LatentCode, torch.Tensor, Sequence[int]], target, source=None,
          method: str = "regularized", frames: int = 16, space: str = "w+", seed: int = 0,
          invert_steps: int = 300, invert_losses: Optional[dict] = None, lpips: bool = True,
          lpips_net: str = "vgg", progress: Optional[Callable] = None, **options) -> PathResult:
    """Decision-crossing paths from ``start`` to class ``target`` of ``classifier``, in a batch.

    ``start``: a ``LatentCode`` of N items (any space; moved to ``space``), images [N, C, H, W] in [-1, 1]
    (projected into ``space`` first; then identity is measured against these images) or a list of seeds.
    ``target``/``source``: class index or name. ``method``: 'ascent', 'regularized' or 'blackbox';
    ``options`` are that method's settings (``AscentSettings``, ``RegularizedSettings``,
    ``BlackboxSettings``), e.g. ``lam=``, ``steps=``, ``query_budget=``. Every reported number comes from
    one final evaluation of the returned frames.
    """
    from cfgan.classifiers import load_classifier

    t_begin = time.perf_counter()
    settings = make_settings(method, dict(options, **({"seed": seed} if method == "blackbox" else {})))
    if frames < 2:
        raise ValueError(f"a path needs at least 2 frames, got frames={frames}")
    space = check_space(G, space)
    classifier = load_classifier(classifier)
    if method != "blackbox" and not classifier.has_gradients:
        raise ValueError(f"classifier {classifier.name} has no gradients (a plain numpy callable): "
                         "use method='blackbox'")
    target_i = classifier.class_index(target)
    source_i = None if source is None else classifier.class_index(source)
    if source_i == target_i:
        raise ValueError(f"source and target are the same class ({classifier.class_name(target_i)})")
    t0 = time.perf_counter()
    code, reference, projection = _start_code(G, start, space, seed, invert_steps, invert_losses, progress)
    t_invert = time.perf_counter() - t0
    n = len(code)
    probe = Probe(G, classifier, target_i, source_i, n)
    code = with_owners(code.detach(), torch.arange(n))
    reference_probs = reference_pred = None
    with torch.no_grad():
        if reference is None:
            reference = probe.render(code).detach()
        else:
            ref_logits = probe.logits(reference, torch.arange(n))
            reference_probs = probe.target_prob(ref_logits).cpu()
            reference_pred = ref_logits.argmax(1).cpu()
    k = classifier.num_classes
    if k is not None and (target_i >= k or (source_i is not None and source_i >= k)):
        raise ValueError(f"class index {max(target_i, source_i or 0)} is out of range for a classifier with "
                         f"{k} classes")

    if method == "ascent":
        values, info = ascent_paths(probe, code, frames, settings, progress=progress)
    elif method == "blackbox":
        values, info = blackbox_paths(probe, code, frames, settings, progress=progress)
    else:
        values, info = regularized_paths(probe, code, reference, frames, settings, progress=progress)
    t1 = time.perf_counter()
    timings = {"invert": t_invert, **info["timings"]}
    run_settings = dict(info["settings"], method=method, frames=frames, space=space, seed=seed, target=target_i,
                        source=source_i)
    if projection is not None:
        run_settings["inversion"] = {k: v for k, v in projection.items() if k != "metrics"}
    repaired = info.get("repaired", torch.zeros(n, dtype=torch.bool))
    result = finalize(probe, method, code, values, reference, run_settings, timings, repaired,
                      lam=info.get("lam"), interrupted=info["interrupted"], lpips=lpips, lpips_net=lpips_net)
    result.timings["finalize"] = time.perf_counter() - t1
    result.timings["total"] = time.perf_counter() - t_begin
    result.reference_probs, result.reference_predicted = reference_probs, reference_pred
    if projection is not None:
        result.settings["inversion_metrics"] = projection["metrics"]
    for key in ("queries_at_end_prob", "reached_end_prob", "end_frame_crossed", "recorded_steps"):
        if key in info:
            result.settings[key] = info[key]
    return result
