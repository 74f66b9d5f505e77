"""Class-gradient directions: per image, the gradient of a class's log-odds with respect to its W+ code.

The steepest way, to first order, to make the classifier see more of a class in that image. It is local:
a straight step along it is a first-order edit, which large strengths may overshoot or undershoot
(``cfgan.paths`` follows the gradient as it turns when a crossing has to be reached).
"""
from __future__ import annotations

import torch

from inversion import LatentCode

from .direction import Direction
from .samples import check_has_w


def class_direction(G, classifier, code: LatentCode, target, space: str = "w+", batch: int = 32) -> Direction:
    """The gradient of log(p_target / (1 - p_target)) at each code, one direction per image.

    ``space='w+'``: the gradient with respect to every W+ row (rows move by different amounts);
    ``space='w'``: with respect to one w shared by all rows (the sum of the row gradients), a W direction.
    """
    from cfgan.paths.probe import target_log_odds

    check_has_w(G)
    if space not in ("w", "w+"):
        raise ValueError(f"a class gradient is taken in 'w' or 'w+', got space={space!r}")
    if not getattr(classifier, "has_gradients", True):
        raise ValueError(f"classifier {getattr(classifier, 'name', '')} has no gradients: use a fitted "
                         "boundary (boundary:CLASS) instead of a class-gradient direction")
    t = classifier.class_index(target)
    name = classifier.class_name(t)
    start = code.to_space(G, "w+") if code.space != "w+" else code.detach()
    grads, log_odds = [], []
    for s in range(0, len(start), batch):
        part = start.select(list(range(s, min(s + batch, len(start)))))
        ws = part.values.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            images = LatentCode("w+", ws, part.noise, part.c).render(G)
            lo = target_log_odds(classifier(images), t)
            (g,) = torch.autograd.grad(lo.sum(), ws)
        grads.append(g.detach().float().cpu())
        log_odds.append(lo.detach().float().cpu())
    g = torch.cat(grads)
    if space == "w":
        g = g.sum(1)
    norms = g.flatten(1).norm(dim=1)
    if bool((norms <= 1e-12).any()):
        dead = (norms <= 1e-12).nonzero().flatten().tolist()
        raise ValueError(f"the gradient of class {name!r} is zero for image(s) {dead[:10]}: the classifier is "
                         "saturated there; use a fitted boundary (boundary:CLASS) instead")
    provenance = {"class": name, "class_index": t, "start_log_odds": torch.cat(log_odds).tolist(),
                  "gradient_norm": norms.tolist(), "space": space}
    return Direction(f"class:{name}", "gradient", g, per_image=True, target=name, provenance=provenance)
