"""``PathResult``: what every path method returns, measured on the final frames.

``finalize`` renders and classifies the final frames of all paths in one pass and derives everything a
report says from that pass alone: probabilities, predictions, crossing, monotonicity, identity distances.
Nothing optimisation-time is trusted for reporting.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import torch

from cfgan.evaluation import median
from inversion import LatentCode, perceptual
from inversion.metrics import mse

from . import monotone
from .judges import JudgeVerdicts, judge_frames, label_counts
from .probe import OWNERS, Probe


@dataclass
class PathResult:
    """N paths of T frames each. Tensors are on the CPU; per-path tensors have the path first."""

    method: str
    targets: List[int]  # target class per path
    sources: Optional[List[int]]  # source class per path, when given
    class_names: Optional[List[str]]
    frames: torch.Tensor  # [N, T, C, H, W] in [-1, 1]
    codes: LatentCode  # N*T codes, path-major (path i frame t at i*T + t)
    probs: torch.Tensor  # [N, T] probability of the target class
    source_probs: Optional[torch.Tensor]  # [N, T] probability of the source class, when given
    predicted: torch.Tensor  # [N, T] class index per frame
    crossed: torch.Tensor  # bool [N]: start not classified as target, last frame classified as target
    monotone: torch.Tensor  # bool [N]: target probability never decreases along the final frames
    repaired: torch.Tensor  # bool [N]: frames were replaced to restore monotonicity
    crossing_index: List[Optional[int]]  # first frame classified as the target
    identity: Dict[str, Optional[torch.Tensor]]  # name -> [N, T] distance of each frame to the subject
    generator_evals: torch.Tensor  # [N] images rendered for each path
    classifier_queries: torch.Tensor  # [N] images classified for each path
    settings: dict
    timings: Dict[str, float]
    lam: Optional[torch.Tensor] = None  # [N] identity weight (regularised paths)
    notes: List[List[str]] = field(default_factory=list)
    interrupted: bool = False
    reference_probs: Optional[torch.Tensor] = None  # [N] target probability of the given images
    reference_predicted: Optional[torch.Tensor] = None  # [N]
    judges: Optional[JudgeVerdicts] = None  # what the independent judges said about every frame
    labels: Optional[List[Optional[str]]] = None  # per path: genuine / blind-spot / mixed (None: not crossed)
    subjects: Optional[List[int]] = None  # per path: its subject (several paths per subject: --paths-per-image)
    ranks: Optional[List[int]] = None  # per path: 0 = closest of its subject's paths (identity at crossing)

    def __len__(self) -> int:
        return self.probs.shape[0]

    @property
    def num_frames(self) -> int:
        return self.probs.shape[1]

    def path_code(self, i: int) -> LatentCode:
        t = self.num_frames
        return self.codes.select(list(range(i * t, (i + 1) * t)))

    def at_crossing(self, name: str) -> List[Optional[float]]:
        """Identity distance ``name`` of each path's crossing frame (None where it did not cross)."""
        values = self.identity.get(name)
        out = []
        for i, k in enumerate(self.crossing_index):
            missing = values is None or k is None or not bool(self.crossed[i])
            out.append(None if missing else float(values[i, k]))
        return out

    def path_report(self, i: int) -> dict:
        """JSON-ready facts about path ``i``."""
        def name(k):
            return None if k is None else (self.class_names[k] if self.class_names else str(k))

        target, source = self.targets[i], None if self.sources is None else self.sources[i]
        return {
            "crossed": bool(self.crossed[i]), "monotone": bool(self.monotone[i]),
            "repaired": bool(self.repaired[i]), "crossing_index": self.crossing_index[i],
            "target": target, "target_name": name(target), "source": source, "source_name": name(source),
            "probs": [float(v) for v in self.probs[i]],
            "source_probs": None if self.source_probs is None else [float(v) for v in self.source_probs[i]],
            "predicted": [int(v) for v in self.predicted[i]],
            "predicted_names": [name(int(v)) for v in self.predicted[i]],
            "identity": {k: None if v is None else [float(x) for x in v[i]]
                         for k, v in self.identity.items()},
            "identity_at_crossing": {k: self.at_crossing(k)[i] for k in self.identity},
            "lambda": None if self.lam is None else float(self.lam[i]),
            "generator_evals": int(self.generator_evals[i]),
            "classifier_queries": int(self.classifier_queries[i]),
            "reference_prob": None if self.reference_probs is None else float(self.reference_probs[i]),
            "reference_predicted": (None if self.reference_predicted is None
                                    else int(self.reference_predicted[i])),
            "label": None if self.labels is None else self.labels[i],
            "judges": None if self.judges is None else self.judges.path_report(i),
            "subject": None if self.subjects is None else self.subjects[i],
            "rank": None if self.ranks is None else self.ranks[i],
            "notes": list(self.notes[i]) if self.notes else [],
        }

    def summary(self) -> dict:
        n = len(self)
        crossed = [i for i in range(n) if bool(self.crossed[i])]

        return {
            "paths": n, "crossed": len(crossed), "crossing_rate": len(crossed) / max(n, 1),
            "monotone": int(self.monotone.sum()), "repaired": int(self.repaired.sum()),
            "median_identity_at_crossing": {k: median(self.at_crossing(k)) for k in self.identity},
            "generator_evals_per_path": float(self.generator_evals.float().mean()) if n else 0.0,
            "classifier_queries_per_path": float(self.classifier_queries.float().mean()) if n else 0.0,
            "labels": None if self.labels is None else label_counts(self.labels),
            "seconds": dict(self.timings), "interrupted": self.interrupted,
        }


def _lpips(frames: torch.Tensor, reference: torch.Tensor, net: str, random_backbone: bool, chunk: int = 64):
    out = []
    with torch.no_grad():
        for s in range(0, frames.shape[0], chunk):
            out.append(perceptual.lpips_distance(frames[s:s + chunk], reference[s:s + chunk], None, net,
                                                 random_backbone).cpu())
    return torch.cat(out)


def identity_distances(frames: torch.Tensor, reference: torch.Tensor, values: torch.Tensor,
                       start_values: torch.Tensor, lpips: bool = True, lpips_net: str = "vgg"
                       ) -> Dict[str, Optional[torch.Tensor]]:
    """Per-frame distances to the subject: pixel MSE and LPIPS to the reference image, latent L2 to the start.

    ``frames`` [N, T, C, H, W], ``reference`` [N, C, H, W], ``values`` [N, T, ...], ``start_values`` [N, ...].
    Without LPIPS weights, 'lpips' is None and 'lpips_random_backbone' (a seeded random VGG with LPIPS's
    heads; not the published metric) gives a perceptual figure instead.
    """
    n, t = frames.shape[:2]
    flat = frames.reshape(n * t, *frames.shape[2:])
    ref = reference.unsqueeze(1).expand(n, t, *reference.shape[1:]).reshape(n * t, *reference.shape[1:])
    ref = ref.to(flat.device)
    out: Dict[str, Optional[torch.Tensor]] = {"pixel": mse(flat, ref).reshape(n, t).cpu()}
    diff = values.reshape(n, t, -1) - start_values.reshape(n, 1, -1).to(values.device)
    out["latent"] = diff.norm(dim=2).cpu()
    if lpips:
        if perceptual.lpips_available(lpips_net):
            out["lpips"] = _lpips(flat, ref, lpips_net, False).reshape(n, t)
        else:
            out["lpips"] = None
            out["lpips_random_backbone"] = _lpips(flat, ref, lpips_net, True).reshape(n, t)
    return out


def finalize(probe: Probe, method: str, start: LatentCode, values: torch.Tensor, reference: torch.Tensor,
             settings: dict, timings: Dict[str, float], repaired: torch.Tensor, lam=None,
             notes: Optional[List[List[str]]] = None, interrupted: bool = False, lpips: bool = True,
             lpips_net: str = "vgg", judges: Sequence = ()) -> PathResult:
    """Render and classify the final frames ``values`` [N, T, ...] of paths from ``start`` and report them;
    ``judges`` (classifiers) see every final frame too and label each crossed path (``cfgan.paths.judges``)."""
    n, t = values.shape[:2]
    owners = torch.arange(n).repeat_interleave(t)
    ctx = start.select(owners.tolist())
    codes = LatentCode(start.space, values.reshape(n * t, *values.shape[2:]).detach(), ctx.noise, ctx.c,
                       ctx.truncation_psi, {OWNERS: owners})
    images, logits = probe.evaluate(codes)
    probs_all = logits.softmax(1).cpu()
    probs = probs_all.gather(1, probe.targets[owners].reshape(-1, 1)).reshape(n, t)
    source_probs = None if probe.sources is None else \
        probs_all.gather(1, probe.sources[owners].reshape(-1, 1)).reshape(n, t)
    predicted = logits.argmax(1).cpu().reshape(n, t)
    is_target = predicted == probe.targets.reshape(n, 1)
    crossed = (~is_target[:, 0]) & is_target[:, -1]
    crossing_index = [int(row.nonzero()[0]) if bool(row.any()) else None for row in is_target]
    mono = monotone.check(probs)
    notes = [list(x) for x in notes] if notes is not None else [[] for _ in range(n)]
    for i in range(n):
        if bool(is_target[i, 0]):
            notes[i].append("the start is already classified as the target class: no boundary to cross")
        elif not bool(crossed[i]):
            notes[i].append("did not cross: the last frame is not classified as the target class")
        if not bool(mono[i]):
            notes[i].append(f"NOT monotone: the target probability drops at frames "
                            f"{monotone.violations(probs[i])}")
    frames = images.reshape(n, t, *images.shape[1:]).cpu()
    verdicts = labels = None
    if judges:
        verdicts = judge_frames(judges, probe.classifier, frames, probe.targets.tolist())
        labels = verdicts.labels(crossed)
        for name in verdicts.names:
            at_start = verdicts.target_at_start(name)
            for i in range(n):
                if bool(at_start[i]):
                    notes[i].append(f"judge {name} already classifies the subject (frame 0) as the target: its "
                                    "verdict says little about the change")
    identity = identity_distances(frames, reference.cpu(), values.detach().cpu(), start.values.detach().cpu(),
                                  lpips=lpips, lpips_net=lpips_net)
    cpu_codes = LatentCode(codes.space, codes.values.cpu(), None if codes.noise is None else
                           [m.cpu() for m in codes.noise], None if codes.c is None else codes.c.cpu(),
                           codes.truncation_psi)
    names = getattr(probe.classifier, "class_names", None)
    sources = None if probe.sources is None else probe.sources.tolist()
    return PathResult(method, probe.targets.tolist(), sources, names, frames, cpu_codes, probs, source_probs,
                      predicted, crossed, mono, repaired.cpu().bool(), crossing_index, identity,
                      probe.gen_evals.clone(), probe.queries.clone(), settings, timings,
                      None if lam is None else torch.as_tensor(lam).detach().cpu().float(), notes,
                      interrupted, judges=verdicts, labels=labels)
