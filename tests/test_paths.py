"""Decision-crossing paths on a tiny generator and toy classifiers whose decision boundary is known."""
import json
import os

import numpy as np
import pytest
import torch
from torch import nn

from cfgan.classifiers import Classifier
from cfgan.paths import check_monotone, cross, write_paths
from cfgan.paths import monotone as mono
from cfgan.paths.blackbox import EstimatedTargetLogOdds
from cfgan.paths.outputs import change_map
from cfgan.paths.probe import OWNERS, Probe, target_log_odds, with_owners
from cfgan.paths.result import finalize
from inversion import LatentCode

SEEDS = [0, 1, 3]


pytestmark = pytest.mark.usefixtures("one_thread")


TINY_G = dict(dim=32)


class Brightness(nn.Module):
    """p(bright) = sigmoid(k * (mean intensity - m0)): the decision boundary is mean intensity = m0."""

    def __init__(self, m0: float, k: float = 20.0):
        super().__init__()
        self.m0, self.k = m0, k

    def forward(self, x):
        m = x.mean((1, 2, 3))
        return torch.stack([torch.zeros_like(m), self.k * (m - self.m0)], 1)


class Linear(nn.Module):
    """A linear classifier on pixels (two classes): class 1 where w.x > bias."""

    def __init__(self, pixels: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(pixels, generator=g) / pixels ** 0.5)
        self.bias = 0.0

    def forward(self, x):
        s = x.flatten(1) @ self.w - self.bias
        return torch.stack([torch.zeros_like(s), 4 * s], 1)


def _means(G, seeds):
    with torch.no_grad():
        return LatentCode.from_seeds(G, seeds, "w+").render(G).mean((1, 2, 3))


@pytest.fixture(scope="module")
def boundary(G):
    """A boundary every start lies below (all starts are 'dark')."""
    return float(_means(G, SEEDS).max()) + 0.05


@pytest.fixture(scope="module")
def clf(boundary):
    return Classifier(Brightness(boundary), class_names=["dark", "bright"])


# -- monotonicity ------------------------------------------------------------------------------------------
def test_check_catches_a_dip():
    probs = torch.tensor([[0.1, 0.2, 0.5, 0.9], [0.1, 0.3, 0.2999, 0.9], [0.2, 0.2, 0.6, 0.6]])
    assert check_monotone(probs).tolist() == [True, False, True]
    assert mono.violations(probs[1]) == [2]


def test_keep_rising_keeps_a_rising_run_from_start_to_top():
    p = [0.1, 0.05, 0.3, 0.2, 0.5, 0.4, 0.45]
    keep = mono.keep_rising(p)
    assert keep[0] == 0 and keep[-1] == 4 and len(keep) == 3
    assert all(p[a] <= p[b] for a, b in zip(keep, keep[1:]))


def test_finalize_flags_a_path_whose_frames_are_out_of_order(G, clf):
    res = cross(G, clf, SEEDS[:1], "bright", method="ascent", frames=6, lpips=False)
    assert bool(res.monotone[0]) and bool(res.crossed[0])
    values = res.codes.values.reshape(1, 6, *res.codes.values.shape[1:]).clone()
    values[:, [2, 4]] = values[:, [4, 2]]  # swap two frames: the probability now dips
    start = with_owners(res.path_code(0).select([0]), torch.tensor([0]))
    probe = Probe(G, clf, torch.tensor([1]))
    flagged = finalize(probe, "ascent", start, values, res.frames[:, 0], {}, {},
                       torch.zeros(1, dtype=torch.bool), lpips=False)
    assert not bool(flagged.monotone[0])
    assert any("NOT monotone" in note for note in flagged.notes[0])
    assert mono.violations(flagged.probs[0]) == [3, 4]  # p0 p1 p4 p3 p2 p5


def test_repair_turns_a_non_monotone_path_into_a_rising_one(G, clf):
    probe = Probe(G, clf, torch.tensor([1]))
    start = with_owners(LatentCode.from_seeds(G, [0], "w+"), torch.tensor([0]))
    res = cross(G, clf, start, "bright", method="ascent", frames=6, lpips=False)
    shuffled = [0, 3, 1, 4, 2, 5]  # frames 1 and 2 now break the order
    values, probs = res.codes.values[shuffled].unsqueeze(0), res.probs[:, shuffled]
    assert not bool(check_monotone(probs)[0])
    fixed, repaired = mono.repair(probe, start, values, probs, torch.tensor([True]))
    assert repaired.tolist() == [True]
    final = finalize(probe, "test", start, fixed, res.frames[:, 0], {}, {}, repaired, lpips=False)
    assert bool(final.monotone[0]) and bool(final.crossed[0]) and bool(final.repaired[0])
    torch.testing.assert_close(final.probs[0, [0, -1]], res.probs[0, [0, -1]], atol=1e-5, rtol=0)
    assert probe.queries.item() > 6  # the repair searched between the kept frames


# -- crossing an analytically known boundary -----------------------------------------------------------------
@pytest.mark.parametrize("method", ["ascent", "regularized"])
def test_paths_cross_the_analytic_boundary(G, clf, boundary, method):
    options = dict(search_rounds=2, search_steps=20, steps=30) if method == "regularized" else {}
    res = cross(G, clf, SEEDS, "bright", source="dark", method=method, frames=8, lpips=False, **options)
    assert res.frames.shape == (3, 8, 1, 16, 16) and res.probs.shape == (3, 8)
    assert res.crossed.all() and res.monotone.all(), res.probs
    means = res.frames.mean((2, 3, 4))  # the analytic decision value of every frame
    expected = torch.sigmoid(20.0 * (means - boundary))
    torch.testing.assert_close(res.probs, expected, atol=1e-4, rtol=0)
    for i, k in enumerate(res.crossing_index):
        assert means[i, k] >= boundary > means[i, k - 1]  # the reported crossing is where the boundary is
    assert res.probs[:, -1].min() >= 0.85  # ended past the boundary, near end_prob = 0.9
    assert (res.identity["pixel"][:, 0] < 1e-10).all() and (res.identity["latent"][:, 0] == 0).all()
    assert (res.identity["pixel"][:, -1] > res.identity["pixel"][:, 1]).all()
    if method == "regularized":
        assert res.lam is not None and (res.lam > 0).all()


@pytest.mark.parametrize("schedule", ["logodds", [0.0, 0.05, 0.1, 0.8, 1.0]])
def test_frames_follow_the_requested_schedule(G, clf, schedule):
    """Frames sit at the scheduled probabilities between the path's own start and end probability, each
    within a quarter of the gap to its nearer scheduled neighbour, or 0.001, in the schedule's scale (the
    resampler's promise)."""
    res = cross(G, clf, SEEDS, "bright", method="ascent", frames=5, lpips=False, schedule=schedule)
    assert res.monotone.all() and res.crossed.all()
    got, p0, p1 = res.probs.double(), res.probs[:, :1].double(), res.probs[:, -1:].double()
    if schedule == "logodds":  # spaced, and measured, in log-odds
        got, p0, p1 = torch.logit(got), torch.logit(p0), torch.logit(p1)
        wanted = p0 + (p1 - p0) * torch.linspace(0, 1, 5, dtype=torch.float64)
    else:
        wanted = p0 + (p1 - p0) * torch.tensor(schedule, dtype=torch.float64)
    gaps = wanted.diff(dim=1)
    nearer = torch.minimum(gaps[:, :-1], gaps[:, 1:])  # inner frames only
    miss = (got[:, 1:-1] - wanted[:, 1:-1]).abs()
    assert (miss <= (0.25 * nearer).clamp(min=1e-3) + 1e-5).all(), (res.probs, wanted)


def test_identity_weight_trades_distance_for_probability(G, clf):
    """A larger identity weight keeps the end frame closer to the subject."""
    options = dict(method="regularized", frames=4, search_steps=30, steps=20, lpips=False)
    near = cross(G, clf, SEEDS[:2], "bright", lam=50.0, **options)
    far = cross(G, clf, SEEDS[:2], "bright", lam=1e-3, **options)
    assert (near.identity["pixel"][:, -1] < far.identity["pixel"][:, -1]).all()
    assert (near.lam == 50.0).all()


# -- black-box -----------------------------------------------------------------------------------------------
def test_nes_estimate_points_along_the_true_gradient(G):
    clf = Classifier(Linear(16 * 16), class_names=["a", "b"])
    probe = Probe(G, clf, torch.tensor([1, 1]))
    code = with_owners(LatentCode.from_seeds(G, [0, 1], "w"), torch.tensor([0, 1]))
    values = code.values.clone().requires_grad_(True)
    view = LatentCode("w", values, None, None, 1.0, dict(code.meta))
    target_log_odds(clf(view.render(G)), 1).sum().backward()
    true = values.grad
    est = EstimatedTargetLogOdds(probe, sigma=0.05, samples=400, seed=0).estimate(code)
    cos = torch.nn.functional.cosine_similarity(est, true, dim=1)
    assert (cos > 0.8).all(), cos
    assert probe.queries.tolist() == [800, 800]  # 2 * samples per item, counted per path


def test_blackbox_and_gradient_paths_agree_in_direction(G):
    lin = Linear(16 * 16)
    clf = Classifier(lin, class_names=["a", "b"])
    with torch.no_grad():
        lin.bias = float(clf(LatentCode.from_seeds(G, SEEDS, "w").render(G))[:, 1].max()) / 4 + 0.3  # all 'a'
    grad = cross(G, clf, SEEDS, "b", method="ascent", space="w", frames=4, lpips=False)
    black = cross(G, clf, SEEDS, "b", method="blackbox", space="w", frames=4, lpips=False, query_budget=1500,
                  samples=16)
    d_grad = grad.codes.values.reshape(3, 4, -1)[:, -1] - grad.codes.values.reshape(3, 4, -1)[:, 0]
    d_black = black.codes.values.reshape(3, 4, -1)[:, -1] - black.codes.values.reshape(3, 4, -1)[:, 0]
    cos = torch.nn.functional.cosine_similarity(d_grad, d_black, dim=1)
    assert (cos > 0.6).all(), cos  # random directions in W (32-d): 0 +- 0.18
    assert black.crossed.all() and black.monotone.all()


def test_blackbox_counts_every_query_and_respects_the_budget(G, boundary):
    seen = []

    def numpy_brightness(x: np.ndarray) -> np.ndarray:  # no gradients
        seen.append(x.shape[0])
        m = x.mean(axis=(1, 2, 3))
        return np.stack([np.zeros_like(m), 20.0 * (m - boundary)], 1)

    clf = Classifier(numpy_brightness, class_names=["dark", "bright"])
    with pytest.raises(ValueError, match="no gradients.*blackbox"):
        cross(G, clf, SEEDS, "bright", method="ascent")
    res = cross(G, clf, SEEDS, "bright", method="blackbox", frames=6, query_budget=400, samples=4,
                lpips=False)
    assert int(res.classifier_queries.sum()) == sum(seen)
    assert (res.classifier_queries <= 400).all(), res.classifier_queries
    assert res.monotone.all()
    assert res.settings["query_budget"] == 400 and res.settings["samples"] == 4


# -- batching, outputs, errors -------------------------------------------------------------------------------
def test_a_path_does_not_depend_on_its_batch(G, clf):
    both = cross(G, clf, SEEDS, "bright", method="ascent", frames=5, lpips=False)
    alone = cross(G, clf, SEEDS[1:2], "bright", method="ascent", frames=5, lpips=False)
    torch.testing.assert_close(both.probs[1:2], alone.probs, atol=1e-3, rtol=0)
    assert int(alone.generator_evals[0]) > 0


def test_change_map_shows_where_the_crossing_frame_differs_from_the_start():
    frames = torch.zeros(3, 2, 4, 4)
    frames[2, :, 1, 2] = 1.0  # one pixel brightened in both channels at the crossing frame
    frames[2, 0, 3, 3] = -0.5  # another darkened in one channel
    diff = change_map(frames, 2)
    expected = torch.zeros(4, 4)
    expected[1, 2], expected[3, 3] = 1.0, 0.25
    torch.testing.assert_close(diff, expected)
    assert change_map(frames, 1).abs().max() == 0


def test_write_paths_writes_every_artefact(G, clf, tmp_path):
    res = cross(G, clf, SEEDS[:2], "bright", method="ascent", frames=5, lpips=True)
    assert res.identity["lpips"] is None and res.identity["lpips_random_backbone"].shape == (2, 5)
    written = write_paths(res, str(tmp_path), ["a", "b"], G)
    for files in written:
        assert len(os.listdir(files["frames"])) == 5
        for kind in ("filmstrip", "mp4", "gif", "plot", "change", "latents", "report"):
            assert os.path.getsize(files[kind]) > 0, kind
    import imageio.v3 as iio

    assert iio.improps(written[0]["gif"]).shape[0] == 5
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert len(report["probs"]) == 5 and report["crossed"] is True and report["monotone"] is True
    assert set(report["identity"]) == {"pixel", "latent", "lpips", "lpips_random_backbone"}
    assert report["identity"]["lpips"] is None and report["seed"] == 0 and "total" in report["timings"]
    from inversion import load_latents

    code, _ = load_latents(str(tmp_path / "a" / "latents.pt"), G)
    assert code.values.shape == (5, G.num_ws, G.w_dim)


def test_bad_requests_fail_clearly(G, clf):
    with pytest.raises(ValueError, match="unknown class 'cat'"):
        cross(G, clf, SEEDS, "cat")
    with pytest.raises(ValueError, match="has no option lam"):
        cross(G, clf, SEEDS, "bright", method="ascent", lam=1.0)
    with pytest.raises(ValueError, match="at least 2 frames"):
        cross(G, clf, SEEDS, "bright", frames=1)
    with pytest.raises(ValueError, match="different classes"):
        cross(G, clf, SEEDS, "bright", source="bright")
    unnamed = Classifier(Brightness(0.0))
    with pytest.raises(ValueError, match="class index 5 is out of range for a classifier with 2 classes"):
        cross(G, unnamed, SEEDS, 5)
    assert OWNERS == "owners"


def test_paths_in_z_space_and_per_path_targets(G, boundary):
    """Z codes work too, and one batch may hold paths to different targets."""
    clf = Classifier(Brightness(boundary), class_names=["dark", "bright"])
    res = cross(G, clf, SEEDS[:2], ["bright", "bright"], method="ascent", space="z", frames=5, lpips=False)
    assert res.codes.space == "z" and res.crossed.all() and res.monotone.all()
    dark = Classifier(Brightness(float(_means(G, SEEDS).min()) - 0.05), class_names=["dark", "bright"])
    both = cross(G, dark, SEEDS[:2], ["dark", "bright"], method="ascent", frames=5, lpips=False)
    assert both.targets == [0, 1]
    assert bool(both.crossed[0]) and not bool(both.crossed[1])  # path 1 starts bright: nothing to cross
    assert "already classified as the target" in " ".join(both.notes[1])


def test_class_agreement_term_measures_how_the_classifier_sees_the_reconstruction(G, clf):
    from cfgan.paths.terms import ClassAgreement
    from inversion import Rendered

    code = LatentCode.from_seeds(G, SEEDS[:2], "w+")
    with torch.no_grad():
        images = code.render(G)
        same = ClassAgreement(clf, images)(Rendered(images, None, code))
        brighter = ClassAgreement(clf, images)(Rendered((images + 0.5).clamp(-1, 1), None, code))
    assert same.abs().max() < 1e-6 and (brighter > 0.01).all()


# -- judges: genuine change or blind spot ------------------------------------------------------------------------
class Constant(nn.Module):
    """A judge that always says class ``k`` (of two)."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 2)
        logits[:, self.k] = 5.0
        return logits


class TopHalf(nn.Module):
    """A different brightness judge: mean intensity of the top half of the image against ``m0``."""

    def __init__(self, m0: float, k: float = 20.0):
        super().__init__()
        self.m0, self.k = m0, k

    def forward(self, x):
        m = x[:, :, : x.shape[2] // 2].mean((1, 2, 3))
        return torch.stack([torch.zeros_like(m), self.k * (m - self.m0)], 1)


def test_judges_label_genuine_blind_spot_and_mixed(G, clf, boundary):
    agrees = Classifier(Brightness(boundary), class_names=["dark", "bright"], name="same-boundary")
    never = Classifier(Constant(0), class_names=["dark", "bright"], name="always-dark")
    res = cross(G, clf, SEEDS, "bright", method="ascent", frames=6, lpips=False, judges=[agrees])
    assert res.crossed.all() and res.labels == ["genuine"] * 3
    torch.testing.assert_close(res.judges.probs["same-boundary"], res.probs, atol=1e-5, rtol=0)  # same function
    blind = cross(G, clf, SEEDS, "bright", method="ascent", frames=6, lpips=False, judges=[never])
    assert blind.labels == ["blind-spot"] * 3
    both = cross(G, clf, SEEDS, "bright", method="ascent", frames=6, lpips=False, judges=[agrees, never])
    assert both.labels == ["mixed"] * 3 and both.summary()["labels"]["mixed"] == 3
    report = both.path_report(0)
    assert report["label"] == "mixed" and report["judges"]["always-dark"]["agrees_at_end"] is False
    assert report["judges"]["same-boundary"]["agrees_at_end"] is True
    assert len(report["judges"]["same-boundary"]["probs"]) == 6
    # a path that does not cross gets no label
    dark_start = Classifier(Brightness(float(_means(G, SEEDS).min()) - 0.05), class_names=["dark", "bright"])
    res = cross(G, dark_start, SEEDS[:1], "bright", method="ascent", frames=4, lpips=False, judges=[agrees])
    assert not bool(res.crossed[0]) and res.labels == [None]


def test_judges_map_classes_by_name_and_refuse_unknown_ones(G, clf, boundary):
    swapped = Classifier(Brightness(boundary), class_names=["bright", "dark"], name="swapped")  # index 1 = dark
    res = cross(G, clf, SEEDS[:1], "bright", method="ascent", frames=4, lpips=False, judges=[swapped])
    assert res.judges.targets["swapped"].tolist() == [0]  # the judge's own index of 'bright'
    other = Classifier(Brightness(boundary), class_names=["cat", "dog"], name="pets")
    with pytest.raises(ValueError, match="--judge pets: the judge has no class 'bright'"):
        cross(G, clf, SEEDS[:1], "bright", method="ascent", frames=4, judges=[other])
    with pytest.raises(ValueError, match="--require-judges needs at least one --judge"):
        cross(G, clf, SEEDS[:1], "bright", method="ascent", frames=4, require_judges=True)


@pytest.mark.parametrize("method", ["ascent", "regularized"])
def test_require_judges_moves_the_judge_with_the_classifier(G, clf, method):
    """A judge that reads only the top half of the image, with a boundary the plain paths' last frames do not
    reach: requiring it raises its probability at the end, and the explained classifier still crosses
    monotonically."""
    plain = cross(G, clf, SEEDS, "bright", method=method, frames=6, lpips=False)
    top = plain.frames[:, -1, :, :8].mean((1, 2, 3))
    judge = Classifier(TopHalf(float(top.max()) + 0.05), class_names=["dark", "bright"], name="top-half")
    plain = cross(G, clf, SEEDS, "bright", method=method, frames=6, lpips=False, judges=[judge])
    required = cross(G, clf, SEEDS, "bright", method=method, frames=6, lpips=False, judges=[judge],
                     require_judges=True)
    assert plain.labels == ["blind-spot"] * 3
    end_plain, end_required = plain.judges.probs["top-half"][:, -1], required.judges.probs["top-half"][:, -1]
    assert (end_required > end_plain + 0.2).all(), (end_plain, end_required)
    assert required.crossed.all() and required.monotone.all()
    assert required.labels.count("genuine") >= 2
    assert required.settings["require_judges"] is True


# -- several explanations per subject ---------------------------------------------------------------------------
def _end_spread(res, k):
    ends = res.codes.values.reshape(len(res), res.num_frames, -1)[:, -1]
    out = []
    for s in range(len(res) // k):
        e = ends[s * k:(s + 1) * k]
        d = torch.cdist(e, e)
        out.append(float(d.sum() / (k * (k - 1))))
    return out


@pytest.mark.parametrize("method", ["ascent", "regularized"])
def test_diversity_pushes_a_subjects_paths_apart(G, clf, method):
    kw = dict(method=method, frames=5, lpips=False, paths_per_image=3, restart_jitter=0.05, seed=4)
    restarts = cross(G, clf, SEEDS[:2], "bright", diversity=0.0, **kw)
    # ascent paths stop once past end_prob, here after 2 to 8 steps: the term needs more weight to act
    diverse = cross(G, clf, SEEDS[:2], "bright", diversity=50.0 if method == "ascent" else 5.0, **kw)
    assert len(diverse) == 6 and diverse.subjects == [0, 0, 0, 1, 1, 1]
    assert restarts.crossed.all() and diverse.crossed.all() and diverse.monotone.all()
    apart, independent = _end_spread(diverse, 3), _end_spread(restarts, 3)
    assert all(a > 1.2 * b for a, b in zip(apart, independent)), (apart, independent)
    for s in range(2):  # ranks order each subject's paths by pixel distance at the crossing frame
        mine = [i for i in range(6) if diverse.subjects[i] == s]
        assert sorted(diverse.ranks[i] for i in mine) == [0, 1, 2]
        at = diverse.at_crossing("pixel")
        by_rank = sorted(mine, key=lambda i: diverse.ranks[i])
        assert [at[i] for i in by_rank] == sorted(at[i] for i in mine)
    # path 0 of each subject starts on the subject's own code, and frame 0 of every path is the subject
    starts = diverse.codes.values.reshape(6, 5, -1)[:, 0]
    torch.testing.assert_close(starts[0], starts[1]), torch.testing.assert_close(starts[3], starts[5])


def test_a_subjects_paths_do_not_depend_on_the_batch(G, clf):
    kw = dict(method="ascent", frames=4, lpips=False, paths_per_image=2, diversity=5.0)
    both = cross(G, clf, SEEDS[:2], "bright", seed=10, **kw)
    alone = cross(G, clf, SEEDS[1:2], "bright", seed=11, **kw)  # subject 1 of the first batch draws seed 10 + 1
    torch.testing.assert_close(both.probs[2:], alone.probs, atol=1e-3, rtol=0)


# -- the adaptive identity-weight search ------------------------------------------------------------------------
def test_adaptive_search_crosses_within_its_budget_and_stays_as_close_as_bisection(G, clf, boundary):
    adaptive = cross(G, clf, SEEDS, "bright", method="regularized", frames=8, lpips=False)
    bisection = cross(G, clf, SEEDS, "bright", method="regularized", frames=8, lpips=False, search="bisection")
    assert adaptive.settings["search"] == "adaptive" and bisection.settings["search"] == "bisection"
    assert adaptive.crossed.all() and adaptive.monotone.all()
    means = adaptive.frames.mean((2, 3, 4))
    for i, k in enumerate(adaptive.crossing_index):
        assert means[i, k] >= boundary > means[i, k - 1]  # the crossing is where the analytic boundary is
    assert (adaptive.lam > 0).all() and adaptive.lam.isfinite().all()
    assert (adaptive.generator_evals <= 250).all(), adaptive.generator_evals
    assert (bisection.generator_evals > 2.5 * adaptive.generator_evals).all()
    close, reference = torch.tensor(adaptive.at_crossing("pixel")), torch.tensor(bisection.at_crossing("pixel"))
    assert close.median() <= 1.5 * reference.median(), (close, reference)


def test_bad_search_options_fail_clearly(G, clf):
    with pytest.raises(ValueError, match="unknown lambda search 'grid'"):
        cross(G, clf, SEEDS, "bright", search="grid")
    with pytest.raises(ValueError, match="paths_per_image > 1 needs the adaptive search"):
        cross(G, clf, SEEDS, "bright", paths_per_image=2, lam=1.0)
    with pytest.raises(ValueError, match="paths_per_image must be an integer >= 1"):
        cross(G, clf, SEEDS, "bright", paths_per_image=0)


# -- memory bound --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("options", [dict(method="regularized", lam=5.0, steps=12),
                                     dict(method="regularized"),
                                     dict(method="ascent", paths_per_image=2, diversity=5.0)])
def test_a_memory_bounded_path_batch_equals_the_unbounded_one(G, clf, options):
    """Every frame of every path rendered in passes of 2 images: the same paths, float rounding aside (Adam can
    grow a last-bit difference where a gradient nearly cancels; see test_inversion), so codes are compared
    against how far the paths moved."""
    whole = cross(G, clf, SEEDS, "bright", frames=6, lpips=False, **options)
    bounded = cross(G, clf, SEEDS, "bright", frames=6, lpips=False, memory=2, **options)
    torch.testing.assert_close(bounded.probs, whole.probs, atol=2e-3, rtol=0)
    values = whole.codes.values.reshape(len(whole), 6, -1)
    moved = float((values[:, -1] - values[:, 0]).abs().max())
    torch.testing.assert_close(bounded.codes.values, whole.codes.values, atol=1e-2 * moved, rtol=0)
    assert bounded.settings["memory"] == {"max_items": 2, "max_bytes": None}
