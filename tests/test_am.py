"""Activation maximisation on a tiny StyleGAN2 and a tiny classifier: scores rise, restarts diversify,
layer units work, the pixel baseline runs with its regularisers, and seeds fix the result."""
import numpy as np
import pytest
import torch
from torch import nn

from cfgan.am import (
    Diversity,
    TotalVariation,
    Unit,
    gaussian_blur,
    maximize,
    maximize_pixels,
    pairwise_group_distance,
)
from cfgan.am.objectives import targets_from_options
from cfgan.classifiers import Classifier
from inversion import Rendered, latent_stats

TINY_G = dict(dim=16)


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(inplace=True), nn.AvgPool2d(4))
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(6 * 4 * 4, 12), nn.ReLU())
        self.head = nn.Linear(12, 3)

    def features(self, x):
        return self.embed(self.conv(x))

    def forward(self, x):
        return self.head(self.features(x))


@pytest.fixture(scope="module")
def clf():
    torch.manual_seed(1)
    net = TinyNet()
    with torch.no_grad():  # a fresh head is almost uniform; make the classes respond to the image
        net.head.weight.mul_(20)
    return Classifier(net, class_names=["ant", "bee", "cat"])


def mean_group_distance(result):
    return float(pairwise_group_distance(result.images.flatten(1), result.assignment).mean())


@pytest.mark.parametrize("space", ["z", "w", "w+"])
def test_score_rises_for_every_restart(G, clf, space):
    res = maximize(G, clf, ["ant", 2], space=space, restarts=3, steps=12, lr=0.1, seed=0, init="random")
    assert len(res) == 6 and res.images.shape == (6, 1, 16, 16)
    assert bool((res.score > res.initial_score + 1e-3).all()), (res.initial_score, res.score)
    prob = res.target_prob
    assert bool(((prob >= 0) & (prob <= 1)).all())
    # the code stored in the result reproduces the images
    torch.testing.assert_close(res.code.render(G), res.images, atol=1e-5, rtol=0)


@pytest.mark.parametrize("score", ["logit", "prob"])
def test_other_class_scores_rise(G, clf, score):
    res = maximize(G, clf, ["bee"], restarts=2, steps=10, lr=0.1, class_score=score, init="random")
    assert bool((res.score > res.initial_score).all())


def test_summary_reports_reached_probability(G, clf):
    res = maximize(G, clf, ["cat"], restarts=3, steps=8, lr=0.1)
    entry = res.summary()["cat"]
    np.testing.assert_allclose(entry["prob_mean"], float(res.probs[:, 2].mean()), rtol=1e-6)
    assert entry["restarts"] == 3 and 0 <= entry["top1_rate"] <= 1
    rows = res.per_image()
    assert [r["restart"] for r in rows] == [0, 1, 2] and all(0 <= r["prob"] <= 1 for r in rows)


def test_diversity_pushes_restarts_apart(G, clf):
    kwargs = dict(restarts=4, steps=15, lr=0.1, seed=3, init="random")
    plain = maximize(G, clf, ["ant", "bee"], **kwargs)
    diverse = maximize(G, clf, ["ant", "bee"], diversity=5.0, **kwargs)
    assert mean_group_distance(diverse) > 1.2 * mean_group_distance(plain)


def test_diversity_in_feature_space_runs(G, clf):
    res = maximize(G, clf, ["ant"], restarts=3, steps=4, diversity=1.0, diversity_features=True)
    assert res.settings["diversity_space"] == "features"


def test_pairwise_group_distance_counts_only_the_same_group():
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [0.0, 5.0]])
    d = pairwise_group_distance(x, torch.tensor([0, 0, 1, 2]))
    # RMS distance over 2 dims: |(2, 0)| / sqrt(2); items alone in their group get 0
    torch.testing.assert_close(d, torch.tensor([2 / 2 ** 0.5, 2 / 2 ** 0.5, 0.0, 0.0]), atol=1e-4, rtol=0)
    term = Diversity(torch.tensor([0, 0, 1, 2]))
    torch.testing.assert_close(term(Rendered(x.reshape(4, 2, 1, 1), None, None)), -d)


def test_same_seed_same_result_other_seed_differs(G, clf):
    a = maximize(G, clf, ["bee"], restarts=2, steps=5, seed=7)
    b = maximize(G, clf, ["bee"], restarts=2, steps=5, seed=7)
    c = maximize(G, clf, ["bee"], restarts=2, steps=5, seed=8)
    assert torch.equal(a.images, b.images)
    assert not torch.allclose(a.images, c.images)


def test_restart_r_of_every_target_starts_from_the_same_code(G, clf):
    res = maximize(G, clf, ["ant", "bee"], restarts=2, steps=0, seed=4, init="random")
    torch.testing.assert_close(res.images[:2], res.images[2:])


def test_truncation_and_clipping(G, clf):
    stats = latent_stats(G, "w")
    lo, hi = stats.low, stats.high
    loose = maximize(G, clf, ["ant"], restarts=3, steps=10, lr=0.3, seed=2)
    tight = maximize(G, clf, ["ant"], restarts=3, steps=10, lr=0.3, seed=2, truncation_psi=0.5, clip=True)
    dist = lambda r: float((r.code.values - G.w_avg).pow(2).mean())  # noqa: E731
    assert dist(tight) < 0.5 * dist(loose)
    # clipped before truncation: the rendered code lies within the (pulled-in) observed range
    w_avg = G.w_avg
    assert bool((tight.code.values <= w_avg + 0.5 * (hi - w_avg) + 1e-5).all())
    assert bool((tight.code.values >= w_avg + 0.5 * (lo - w_avg) - 1e-5).all())
    torch.testing.assert_close(tight.code.render(G), tight.images, atol=1e-5, rtol=0)


def test_layer_units_channel_and_neuron(G, clf):
    units = [Unit("conv.0", 2), Unit("conv.0", 4, position=(5, 6)), Unit("embed.1", 3)]
    res = maximize(G, clf, units, restarts=2, steps=12, lr=0.1, init="random")
    assert bool((res.score > res.initial_score).all()), (res.initial_score, res.score)
    assert "conv.0[2]" in res.summary() and torch.isnan(res.target_prob).all()
    # the score is the hooked activation itself: recompute the channel mean directly
    x = clf.preprocess(res.images[:2])
    torch.testing.assert_close(res.score[:2], clf.model.conv[0](x)[:, 2].mean((1, 2)), atol=1e-4, rtol=1e-4)


def test_unit_read_before_an_inplace_relu(G, clf):
    # conv.0 is followed by ReLU(inplace=True): negative pre-activations must stay visible
    res = maximize(G, clf, [Unit("conv.0", 0)], restarts=2, steps=0)
    x = clf.preprocess(res.images)
    torch.testing.assert_close(res.score, clf.model.conv[0](x)[:, 0].mean((1, 2)), atol=1e-5, rtol=1e-5)


def test_unknown_layer_and_bad_units_fail_clearly(G, clf):
    with pytest.raises(ValueError, match=r"unknown layer 'trunk\.9'.*valid layer names: conv, conv\.0"):
        maximize(G, clf, [Unit("trunk.9", 0)], restarts=1, steps=1)
    with pytest.raises(ValueError, match=r"unit 6 is out of range.*6 units"):
        maximize(G, clf, [Unit("conv.0", 6)], restarts=1, steps=1)
    with pytest.raises(ValueError, match="outside layer"):
        maximize(G, clf, [Unit("conv.0", 0, position=(16, 0))], restarts=1, steps=1)
    with pytest.raises(ValueError, match="unknown class 'dog'"):
        maximize(G, clf, ["dog"], restarts=1, steps=1)


def test_numpy_classifier_is_refused(G):
    numpy_clf = Classifier(lambda x: np.zeros((len(x), 2), np.float32))
    with pytest.raises(ValueError, match="no gradients"):
        maximize(G, numpy_clf, [0], restarts=1, steps=1)


def test_parameters_stay_untouched(G, clf):
    flags = [p.requires_grad for p in clf.parameters()]
    before = [p.detach().clone() for p in clf.parameters()]
    maximize(G, clf, ["ant"], restarts=1, steps=2)
    assert [p.requires_grad for p in clf.parameters()] == flags
    assert all(p.grad is None for p in clf.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, clf.parameters()))


def test_pixel_am_with_all_regularisers_raises_score(clf):
    res = maximize_pixels(clf, ["ant", "cat"], (1, 16, 16), restarts=3, steps=25, lr=0.05, l2=0.05, l1=0.01,
                          tv=0.5, jitter=2, blur_every=5, blur_sigma=0.5, seed=0)
    assert res.method == "pixels" and res.images.shape == (6, 1, 16, 16) and res.code is None
    assert bool((res.score > res.initial_score).all())
    assert float(res.images.abs().max()) <= 1.0
    assert set(res.settings) >= {"l2", "l1", "tv", "jitter", "blur_every"}


def test_pixel_am_is_deterministic_and_diversity_works(clf):
    kwargs = dict(restarts=3, steps=15, lr=0.05, init_std=0.02, seed=5)
    a = maximize_pixels(clf, ["bee"], (1, 16, 16), **kwargs)
    b = maximize_pixels(clf, ["bee"], (1, 16, 16), **kwargs)
    assert torch.equal(a.images, b.images)
    diverse = maximize_pixels(clf, ["bee"], (1, 16, 16), diversity=5.0, **kwargs)
    assert mean_group_distance(diverse) > 1.2 * mean_group_distance(a)


def test_pixel_am_needs_an_image_shape(clf):
    with pytest.raises(ValueError, match="image_shape"):
        maximize_pixels(clf, ["bee"], restarts=1, steps=1)


def test_total_variation_and_blur():
    flat = torch.zeros(1, 1, 8, 8)
    checker = (torch.arange(8).reshape(1, -1) + torch.arange(8).reshape(-1, 1)) % 2 * 2.0 - 1
    checker = checker.reshape(1, 1, 8, 8)
    tv = TotalVariation()
    assert float(tv(Rendered(flat, None, None))) == 0.0
    assert float(tv(Rendered(checker, None, None))) == pytest.approx(8.0)
    blurred = gaussian_blur(checker, 1.0)
    assert blurred.shape == checker.shape and float(tv(Rendered(blurred, None, None))) < 0.5
    torch.testing.assert_close(gaussian_blur(flat + 0.3, 1.0), flat + 0.3)


def test_targets_from_command_line_options(clf):
    targets = targets_from_options(clf, ["all", "bee"], "conv.0", [1])
    assert [t.label for t in targets] == ["ant", "bee", "cat", "conv.0[1]"]
    with pytest.raises(ValueError, match="--unit needs --layer"):
        targets_from_options(clf, [], None, [1])
    with pytest.raises(ValueError, match="nothing to maximise"):
        targets_from_options(clf, [], None, [])


def test_best_of_k_starts_from_the_best_candidates(G, clf):
    random_start = maximize(G, clf, ["ant", "cat"], restarts=2, steps=0, seed=1, init="random")
    best = maximize(G, clf, ["ant", "cat"], restarts=2, steps=0, seed=1, init="best-of-k", k=32)
    pool = maximize(G, clf, ["ant", "cat"], restarts=32, steps=0, seed=1, init="random")  # same candidates
    for t in range(2):
        top2 = pool.score[pool.rows(t)].topk(2).values
        torch.testing.assert_close(best.score[best.rows(t)], top2, atol=1e-5, rtol=1e-5)
    assert float(best.score.mean()) > float(random_start.score.mean())
    with pytest.raises(ValueError, match="k >= restarts"):
        maximize(G, clf, ["ant"], restarts=4, steps=0, init="best-of-k", k=2)


def midway(result):
    start = result.initial_score.exp()  # log-probabilities -> probabilities
    return float(0.5 * start.max() + 0.5 * result.target_prob.min())


def test_stop_at_freezes_items_that_reached_the_probability(G, clf):
    kwargs = dict(restarts=3, steps=30, lr=0.2, seed=6, init="random", prior=0.0)
    free = maximize(G, clf, ["bee"], **kwargs)
    threshold = midway(free)
    stopped = maximize(G, clf, ["bee"], stop_at=threshold, **kwargs)
    # every item crossed the threshold and was frozen there, below where free maximisation went
    assert bool((stopped.target_prob >= threshold).all())
    assert bool((stopped.target_prob < free.target_prob).all())
    kwargs = dict(restarts=2, steps=30, lr=0.2, l2=0, tv=0, blur_every=3, jitter=0, seed=6)
    free_pix = maximize_pixels(clf, ["bee"], (1, 16, 16), **kwargs)
    threshold = midway(free_pix)
    pix = maximize_pixels(clf, ["bee"], (1, 16, 16), stop_at=threshold, **kwargs)
    assert bool((pix.target_prob >= threshold).all()) and bool((pix.target_prob < free_pix.target_prob).all())
    # frozen items are also spared the periodic blur (lr 0: only the blur could change them); unit items
    # never count as finished, so they keep being blurred
    still = dict(restarts=2, steps=5, lr=0.0, blur_every=1, jitter=0, seed=6)
    targets = ["bee", Unit("conv.0", 1)]
    start = maximize_pixels(clf, targets, (1, 16, 16), **dict(still, steps=0))
    mixed = maximize_pixels(clf, targets, (1, 16, 16), stop_at=0.01, **still)
    assert torch.equal(mixed.images[:2], start.images[:2])
    assert not torch.allclose(mixed.images[2:], start.images[2:])
    with pytest.raises(ValueError, match="stop_at"):
        maximize(G, clf, ["bee"], restarts=1, steps=1, stop_at=1.5)


def test_memory_bounded_am_equals_the_single_pass_and_keeps_restarts_together(G, clf, monkeypatch):
    """Generator AM in passes of at most 4 images: the same images (float rounding aside); with the image-space
    diversity term a pass holds whole targets (all restarts of one target), since the term compares them."""
    import cfgan.am.generator_am as generator_am

    chunks = []
    real = generator_am.optimize

    def spy(params, objective, *a, **k):
        def watched(step, t, items=None):
            chunks.append(None if items is None else items.tolist())
            return objective(step, t, items)
        return real(params, watched if k.get("memory") else objective, *a, **k)

    monkeypatch.setattr(generator_am, "optimize", spy)
    kwargs = dict(restarts=3, steps=10, lr=0.1, seed=0, init="random", diversity=2.0, stop_at=0.9)
    whole = maximize(G, clf, ["ant", "bee"], **kwargs)
    bounded = maximize(G, clf, ["ant", "bee"], memory=4, **kwargs)
    torch.testing.assert_close(bounded.images, whole.images, atol=1e-3, rtol=0)
    torch.testing.assert_close(bounded.initial_score, whole.initial_score, atol=1e-5, rtol=0)
    seen = [c for c in chunks if c is not None]
    assert seen and all(c in ([0, 1, 2], [3, 4, 5]) for c in seen)  # 6 items, targets of 3: never split
