"""Faithfulness and robustness metrics of saliency maps, checked against what theory says on toy classifiers."""
import math

import numpy as np
import pytest
import torch

from cfgan.classifiers import Classifier
from cfgan.saliency.metrics import auc, deletion_insertion, flip_curve, pixel_ranks

# toy images of white and bright pixels are meant as [-1, 1] images that happen to be bright
pytestmark = pytest.mark.filterwarnings("ignore::inversion.images.ImageRangeWarning")


class MeanThreshold(torch.nn.Module):
    """Two classes: class 1 while the mean pixel exceeds ``level`` (logit gap 50 x the margin)."""

    def __init__(self, level: float = 0.5):
        super().__init__()
        self.level = level

    def forward(self, x):
        s = 50 * (x.flatten(1).mean(1) - self.level)
        return torch.stack([torch.zeros_like(s), s], 1)


class OnePixel(torch.nn.Module):
    """Two classes decided by one pixel alone: class 1 while pixel (r, c) is above 0.5."""

    def __init__(self, r: int, c: int):
        super().__init__()
        self.r, self.c = r, c

    def forward(self, x):
        s = 50 * (x[:, 0, self.r, self.c] - 0.5)
        return torch.stack([torch.zeros_like(s), s], 1)


class QuadrantLinear(torch.nn.Module):
    """Two classes; log-odds of class 1 = sum of (fixed positive weights x pixels) over the top-left quadrant
    only: the pixels outside it cannot matter."""

    def __init__(self, size: int = 8, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        weight = torch.zeros(size, size)
        weight[: size // 2, : size // 2] = 0.5 + torch.rand(size // 2, size // 2, generator=g)
        self.register_buffer("weight", weight)

    def forward(self, x):
        s = (x[:, 0] * self.weight).flatten(1).sum(1) * 0.5
        return torch.stack([-s, s], 1)


def test_ties_are_broken_by_a_seeded_permutation():
    maps = torch.zeros(2, 4, 4)
    a, b = pixel_ranks(maps, [0, 1]), pixel_ranks(maps, [0, 1])
    assert torch.equal(a, b)  # seeded
    assert not torch.equal(a[0], a[1])  # each image its own order
    assert sorted(a[0].tolist()) == list(range(16))
    # distinct scores are ranked by score whatever the seed
    maps = torch.arange(16.0).reshape(1, 4, 4)
    assert pixel_ranks(maps, [5]).tolist() == [list(range(16))]


def test_flip_curve_of_a_mean_threshold_is_a_step_at_the_theoretical_tau():
    """White 8x8 images, gray fill (0): after flipping k pixels the mean is 1 - k/64, which stays above the
    level 0.5 while k < 32 (k = 32: exactly 0.5, class 0 ties at logit 0 -> argmax picks class 0, a change).
    Whatever the map (constant included), the decision changes exactly from tau = 0.5 on."""
    clf = Classifier(MeanThreshold(0.5))
    images = torch.ones(6, 1, 8, 8)
    taus = [i / 16 for i in range(17)]
    for maps in (torch.zeros(6, 8, 8), torch.rand(6, 8, 8, generator=torch.Generator().manual_seed(0))):
        curve = flip_curve(clf, images, maps, taus=taus, fill="gray")["flip_rate"]
        assert curve == [0.0 if t < 0.5 else 1.0 for t in taus]
    # black fill (-1): the mean is 1 - 2k/64, below 0.5 once k >= 16
    curve = flip_curve(clf, images, torch.zeros(6, 8, 8), taus=taus, fill="black")["flip_rate"]
    assert curve == [0.0 if t < 0.25 else 1.0 for t in taus]
    # white fill changes nothing on a white image
    assert flip_curve(clf, images, torch.zeros(6, 8, 8), taus=taus, fill="white")["flip_rate"] == [0.0] * 17


def test_flip_curve_of_a_constant_map_follows_the_diagonal_when_one_pixel_decides():
    """With ties broken at random, a constant map flips a uniformly random k of the 64 pixels, so the deciding
    pixel is among them with probability k / 64: the expected curve is the diagonal tau. 400 images: the
    observed rate is within 4 binomial standard deviations of it."""
    n = 400
    clf = Classifier(OnePixel(3, 5))
    images = torch.ones(n, 1, 8, 8)
    taus = [0.0, 0.25, 0.5, 0.75, 1.0]
    curve = flip_curve(clf, images, torch.zeros(n, 8, 8), taus=taus, fill="gray", seed=3)["flip_rate"]
    for tau, rate in zip(taus, curve):
        k = round(tau * 64)
        p = k / 64
        assert abs(rate - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1e-9, (tau, rate)
    # an oracle map (the deciding pixel most important) never flips it before tau = 100%
    oracle = torch.zeros(n, 8, 8)
    oracle[:, 3, 5] = 1
    assert flip_curve(clf, images, oracle, taus=taus, seed=3)["flip_rate"] == [0, 0, 0, 0, 1.0]


def test_flip_curve_is_deterministic_and_batch_bounded():
    clf = Classifier(QuadrantLinear())
    g = torch.Generator().manual_seed(1)
    images = torch.rand(10, 1, 8, 8, generator=g) * 2 - 1
    maps = torch.rand(10, 8, 8, generator=g).round()  # many ties
    a = flip_curve(clf, images, maps, max_batch=3, seed=4)
    b = flip_curve(clf, images, maps, max_batch=None, seed=4)
    assert a["flip_rate"] == b["flip_rate"] and torch.equal(a["changed"], b["changed"])
    # per-image seeds: an image's result does not depend on the batch it is in
    c = flip_curve(clf, images[5:], maps[5:], seeds=[4 + i for i in range(5, 10)])
    assert torch.equal(c["changed"], a["changed"][:, 5:])


def test_deletion_auc_of_an_oracle_map_beats_a_random_map_and_insertion_the_reverse():
    clf = Classifier(QuadrantLinear())
    g = torch.Generator().manual_seed(2)
    images = 0.5 + 0.5 * torch.rand(16, 1, 8, 8, generator=g)  # bright: class 1, p near 1
    oracle = (images[:, 0] * clf.model.weight).detach()  # the exact contribution of each pixel
    random = torch.rand(16, 8, 8, generator=g)
    ours = deletion_insertion(clf, images, oracle, steps=16, fill="gray")
    theirs = deletion_insertion(clf, images, random, steps=16, fill="gray")
    assert (ours["deletion_auc"] < theirs["deletion_auc"]).all()
    assert (ours["insertion_auc"] > theirs["insertion_auc"]).all()
    # curves start at the original probability (deletion) and at the all-gray image's (insertion), and swap ends
    p = torch.softmax(clf(images), 1)[:, 1].detach().numpy()
    np.testing.assert_allclose(ours["deletion"][:, 0], p, rtol=1e-5)
    np.testing.assert_allclose(ours["insertion"][:, -1], p, rtol=1e-5)
    np.testing.assert_allclose(ours["deletion"][:, -1], 0.5, rtol=1e-5)  # all gray: log-odds 0
    # the oracle deletes in order of contribution: its deletion curve never rises
    assert (np.diff(ours["deletion"], axis=1) <= 1e-6).all()


def test_auc_is_the_trapezoid_over_a_normalised_axis():
    assert auc([0, 0.5, 1], [1, 1, 1]) == pytest.approx(1.0)
    assert auc([0, 10], [0, 1]) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        auc([1, 1], [0, 1])


def test_bad_maps_and_fills_are_clear_errors():
    clf = Classifier(MeanThreshold())
    images = torch.ones(2, 1, 8, 8)
    with pytest.raises(ValueError, match="score maps must be"):
        flip_curve(clf, images, torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="unknown fill 'pink'"):
        flip_curve(clf, images, torch.zeros(2, 8, 8), fill="pink")
    with pytest.raises(ValueError, match="NaN"):
        deletion_insertion(clf, images, torch.full((2, 8, 8), float("nan")))


# -- robustness -----------------------------------------------------------------------------------------
from cfgan.saliency.robustness import (  # noqa: E402
    DEFAULT_EPS,
    attack,
    rank_correlation,
    sensitivity_max,
    topk_overlap,
)
from inversion.optimize import optimize  # noqa: E402

from tiny_models import tiny_classifier  # noqa: E402


def gradient_maps(clf):
    def explain(x, target):
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            score = clf(x).gather(1, target.view(-1, 1)).sum()
            return torch.autograd.grad(score, x)[0].abs().sum(1)
    return explain


def test_optimize_projects_after_every_step():
    """The loop's post-step hook: every step's values are projected before the next evaluation."""
    x = torch.zeros(3, 4, requires_grad=True)
    seen = []

    def objective(step, t):
        seen.append(float(x.detach().abs().max()))
        return ((x - 5) ** 2).sum(1), {}

    optimize([x], objective, steps=10, lr=1.0, project=lambda: x.clamp_(-0.3, 0.3))
    assert max(seen) <= 0.3 + 1e-7 and float(x.detach().abs().max()) == pytest.approx(0.3)


def test_overlap_and_rank_correlation_of_equal_and_reversed_maps():
    g = torch.Generator().manual_seed(0)
    maps = torch.rand(3, 8, 8, generator=g)
    assert topk_overlap(maps, maps, 10, [0, 1, 2]).tolist() == [1.0, 1.0, 1.0]
    assert topk_overlap(maps, -maps, 10, [0, 1, 2]).tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(rank_correlation(maps, maps), 1.0)
    np.testing.assert_allclose(rank_correlation(maps, -maps), -1.0)
    assert np.isnan(rank_correlation(torch.zeros(1, 8, 8), maps[:1])[0])


@pytest.mark.parametrize("name", ["gradient", "occlusion"])
def test_attack_keeps_the_label_stays_within_eps_and_moves_the_map(name, one_thread):
    clf = Classifier(tiny_classifier(16, 4, seed=3))
    g = torch.Generator().manual_seed(5)
    images = torch.rand(6, 1, 16, 16, generator=g) * 2 - 1
    eps = DEFAULT_EPS
    result = attack(gradient_maps(clf), name, clf, images, eps=eps, k=25, steps=15, restarts=3, seed=1)
    assert result.attack == ("pgd" if name == "gradient" else "random-sign")
    assert (result.linf <= eps + 1e-6).all()
    assert float((result.perturbed - images).abs().max()) <= eps + 1e-6
    assert float(result.perturbed.min()) >= -1 and float(result.perturbed.max()) <= 1
    with torch.no_grad():
        assert torch.equal(clf(result.perturbed).argmax(1), clf(images).argmax(1))
    assert result.label_kept.all() and result.attacked.any()
    assert ((0 <= result.topk_overlap) & (result.topk_overlap <= 1)).all()
    assert result.topk_overlap.mean() < 1  # it moved something
    again = attack(gradient_maps(clf), name, clf, images, eps=eps, k=25, steps=15, restarts=3, seed=1)
    assert torch.equal(again.perturbed, result.perturbed)  # seeded


def test_pgd_moves_the_gradient_map_more_than_random_signs(one_thread):
    clf = Classifier(tiny_classifier(16, 4, seed=3))
    images = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(6)) * 2 - 1
    pgd = attack(gradient_maps(clf), "gradient", clf, images, k=25, steps=25, seed=2)
    rnd = attack(gradient_maps(clf), "gradient-as-black-box", clf, images, k=25, restarts=1, seed=2)
    assert pgd.topk_overlap.mean() < rnd.topk_overlap.mean()


def test_sensitivity_max_is_reproducible_and_zero_for_a_constant_map():
    clf = Classifier(tiny_classifier(16, 4, seed=3))
    images = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(7)) * 2 - 1
    target = torch.zeros(4, dtype=torch.long)
    a = sensitivity_max(gradient_maps(clf), images, target, samples=3, seed=1, max_batch=2)
    b = sensitivity_max(gradient_maps(clf), images, target, samples=3, seed=1, max_batch=2)
    np.testing.assert_array_equal(a, b)
    assert (a > 0).all()
    const = sensitivity_max(lambda x, t: torch.ones(x.shape[0], 16, 16), images, target, samples=3)
    assert (const == 0).all()
