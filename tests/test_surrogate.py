"""Surrogate trees: exact recovery of a classifier that is a threshold on one latent direction, fidelity
by depth, the tree's JSON, strips that cross where the split says, determinism, and the written files."""
import json

import numpy as np
import pytest
import torch

from cfgan.classifiers import Classifier
from cfgan.edit import Direction, LatentSamples, labelled_samples, pca_directions
from cfgan.surrogate import fit_surrogate, run_surrogate, split_strips, surrogate_directions

from tiny_models import PixelLinear

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def clf():
    return Classifier(PixelLinear(64, k=4.0, bias=0.1), class_names=["neg", "pos"])


@pytest.fixture(scope="module")
def true_direction(LG, clf):
    """The W direction the classifier thresholds: its log-odds are exactly linear along it."""
    v = clf.model.v.detach().reshape(8, 8)[:LG.num_ws, :LG.w_dim]
    return Direction("truth", "file", (clf.model.k * LG.gain * v).sum(0))


@pytest.fixture(scope="module")
def samples(LG, clf):
    return labelled_samples(LG, clf, 3000, seed=2)


def test_a_threshold_on_one_direction_is_recovered_at_depth_one(LG, clf, samples, true_direction):
    feats = pca_directions(LG, 3) + [true_direction]
    s = fit_surrogate(samples, feats, depth=2, depths=(1, 2, 3), seed=0)
    assert s.fidelity[1]["held_out"] >= 0.98 and s.fidelity[2]["held_out"] >= 0.98
    assert s.baseline < 0.8  # the labelling is not trivial
    root = s.nodes()[0]
    assert root["feature_name"] == "truth" and root["left_class"] == "neg" and root["right_class"] == "pos"
    # the threshold sits where the classifier's log-odds are 0, in sigma units of the training samples
    ws = samples.ws.double()
    u = true_direction.vector.double()
    c = (torch.tensor(s.mean) @ u).item()
    norm = (clf.model.k * LG.gain * clf.model.v.detach().reshape(8, 8)[:4, :8]).sum(0).norm().item()
    offset = clf.model.k * clf.model.bias  # log-odds = norm * <w, u> - k * bias
    boundary = (offset / norm - c) / float(s.scales[-1])
    gap = np.sort(np.abs(s.features(ws)[:, -1] - boundary))[1]
    assert abs(root["threshold"] - boundary) < 0.05 + gap


def test_fidelity_grows_with_depth_and_json_is_consistent():
    g = torch.Generator().manual_seed(0)
    ws = torch.randn(4000, 6, generator=g)
    labels = (ws[:, 0] > 0).long() + 2 * (ws[:, 1] > 0.5).long()  # 4 classes from two thresholds
    samples = LatentSamples(ws, labels, torch.nn.functional.one_hot(labels, 4).float(), 0, class_names=list("abcd"))
    axes = [Direction(f"e{i}", "file", torch.eye(6)[i]) for i in range(6)]
    s = fit_surrogate(samples, axes, depth=2, depths=(1, 2, 3), seed=0)
    assert s.fidelity[1]["held_out"] < 0.8 <= 0.98 <= s.fidelity[2]["held_out"]
    payload = s.to_json()
    nodes = payload["nodes"]
    assert set(payload["fidelity_by_depth"]) == {"1", "2", "3"}
    assert nodes[0]["samples"] == len(s.train) == 3000
    for n in nodes:
        assert sum(n["counts"]) == n["samples"]
        if not n.get("leaf"):
            assert nodes[n["left"]]["samples"] + nodes[n["right"]]["samples"] == n["samples"]
            assert n["feature_name"] in ("e0", "e1")
    leaves = [n for n in nodes if n.get("leaf")]
    assert sorted(n["class"] for n in leaves) == list("abcd") and min(n["purity"] for n in leaves) > 0.97


def test_seeded_and_deterministic(samples, LG, true_direction):
    feats = pca_directions(LG, 4)
    a, b = fit_surrogate(samples, feats, depth=3, seed=1), fit_surrogate(samples, feats, depth=3, seed=1)
    assert a.to_json() == b.to_json() and np.array_equal(a.train, b.train)
    c = fit_surrogate(samples, feats, depth=3, seed=2)
    assert not np.array_equal(c.train, a.train)  # the seed chooses the held-out split


def test_strips_cross_where_the_split_says(LG, clf, samples, true_direction):
    s = fit_surrogate(samples, [true_direction, *pca_directions(LG, 2)], depth=1, depths=(1,), seed=0)
    (strip,) = split_strips(LG, clf, s, frames=6, span=1.0)
    pred = strip.probs.argmax(1)
    below = torch.tensor(strip.values) <= strip.threshold
    # moving along the split's direction changes exactly what the tree splits on: the classes follow it
    assert pred[below].eq(0).all() and pred[~below].eq(1).all()
    assert strip.images.shape == (6, 1, 8, 8)


def test_features_must_be_shared_w_directions(samples, LG):
    with pytest.raises(ValueError, match="W directions shared by all samples"):
        fit_surrogate(samples, [Direction("l", "file", torch.ones(LG.num_ws, LG.w_dim))])
    with pytest.raises(ValueError, match="per image"):
        fit_surrogate(samples, [Direction("g", "gradient", torch.ones(3, LG.w_dim), per_image=True)])
    with pytest.raises(ValueError, match="'pca' or 'boundary'"):
        surrogate_directions(LG, "ica")


def test_boundary_features_are_fitted_on_the_training_split_only(LG, clf, samples):
    train, _ = samples.split(0.25, 0)
    feats = surrogate_directions(LG, "boundary", samples=samples, train=train, classifier=clf)
    assert [d.name for d in feats] == ["boundary:neg", "boundary:pos"]
    assert all(d.provenance["samples"] == len(train) for d in feats)


def test_run_surrogate_writes_json_tree_and_strips(LG, clf, samples, tmp_path):
    out = tmp_path / "sur"
    payload = run_surrogate(LG, clf, str(out), directions="pca", k=3, depth=2, depths=(1, 2), samples=samples,
                            strip_frames=4)
    on_disk = json.loads((out / "surrogate.json").read_text())
    assert on_disk["depth"] == 2 and set(on_disk["fidelity_by_depth"]) == {"1", "2"}
    assert on_disk["fidelity_by_depth"]["2"]["held_out"] == payload["fidelity_by_depth"]["2"]["held_out"]
    splits = [n for n in on_disk["nodes"] if not n.get("leaf")]
    assert len(on_disk["strips"]) == len(splits) >= 1
    for st in on_disk["strips"]:
        assert (out / st["file"]).is_file() and len(st["predicted"]) == 4
    assert (out / "tree.png").stat().st_size > 5000 and (out / "directions.pt").is_file()
    saved = torch.load(out / "directions.pt", weights_only=True)
    assert saved["names"] == ["pca:0", "pca:1", "pca:2"] and saved["vectors"].shape == (3, 8)
