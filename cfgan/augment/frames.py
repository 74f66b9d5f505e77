"""Which frames of a crossing path are boundary samples, and what is recorded about each.

A frame is kept when the explained classifier's probability of the path's target is within ``eps`` of 0.5
(``near``), and the two frames that straddle the crossing are always kept (``straddle``: the last frame
not classified as the target and the first one that is), because with more than two classes the decision
can flip at a probability well away from 0.5.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence


def boundary_frames(probs: Sequence[float], crossing_index: Optional[int], eps: float) -> Dict[int, List[str]]:
    """frame index -> why it is kept (``near`` and/or ``straddle``), in frame order."""
    kept: Dict[int, List[str]] = {}
    for t, p in enumerate(probs):
        if abs(float(p) - 0.5) <= eps:
            kept.setdefault(t, []).append("near")
    if crossing_index is not None and crossing_index > 0:
        for t in (crossing_index - 1, crossing_index):
            kept.setdefault(t, []).append("straddle")
    return dict(sorted(kept.items()))


def sample_id(key: str, path: int, frame: int) -> str:
    """A sample's name (also its image file's stem): subject key, path number, frame number."""
    return f"{key}_p{path}_f{frame:02d}"


def path_samples(result, i: int, eps: float, key: str, path: int) -> List[dict]:
    """The boundary samples of path ``i`` of a ``cfgan.paths.PathResult`` (``path``: its number among its
    subject's paths, 0 = the one from the subject's own code). Each is a JSON-ready record; ``row`` is its
    place among the result's codes (path-major)."""
    crossing = result.crossing_index[i] if bool(result.crossed[i]) else None
    kept = boundary_frames(result.probs[i].tolist(), crossing, eps)
    names = result.class_names
    name = (lambda c: names[c] if names else str(c))  # noqa: E731
    target, source = result.targets[i], None if result.sources is None else result.sources[i]
    out = []
    for t, why in kept.items():
        predicted = int(result.predicted[i, t])
        judges = None
        if result.judges is not None:
            judges = {j: {"p_target": float(result.judges.probs[j][i, t]),
                          "predicted": int(result.judges.predicted[j][i, t])} for j in result.judges.names}
        out.append({
            "id": sample_id(key, path, t), "path": path,
            "rank": None if result.ranks is None else result.ranks[i], "frame": t, "frames": result.num_frames,
            "why": why, "source_class": name(source) if source is not None else None, "target_class": name(target),
            "p_target": float(result.probs[i, t]),
            "p_source": None if result.source_probs is None else float(result.source_probs[i, t]),
            "predicted": predicted, "predicted_class": name(predicted),
            "identity": {k: None if v is None else float(v[i, t]) for k, v in result.identity.items()},
            "crossed": bool(result.crossed[i]), "monotone": bool(result.monotone[i]),
            "crossing_index": crossing, "judge_label": None if result.labels is None else result.labels[i],
            "judges": judges, "row": i * result.num_frames + t,
        })
    return out
