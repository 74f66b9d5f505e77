"""Latent edits: parsers, directions (gradient, boundary, PCA, files), strengths, layer ranges, kept
directions, crossings and the whole job, on a linear generator (exact expectations) and a tiny StyleGAN2."""
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from cfgan.classifiers import Classifier
from cfgan.edit import (
    Direction,
    LatentSamples,
    class_direction,
    direction_sigma,
    edit_codes,
    evaluate_edit,
    fit_boundary,
    labelled_samples,
    layer_ranges,
    load_direction,
    parse_direction_spec,
    parse_layers,
    parse_strengths,
    pca_directions,
    run_edit,
    w_samples,
)
from inversion import LatentCode, load_latents
from inversion.latents import STATS_SAMPLES, STATS_SEED

from tiny_models import LinearGenerator, PixelLinear, make_tiny_generator

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lin_clf():
    return Classifier(PixelLinear(64, k=4.0), class_names=["neg", "pos"])


def row_weights(G, clf):
    """c [num_ws, w_dim]: the W+ gradient of the linear classifier's log-odds (the same everywhere)."""
    v = clf.model.v.detach().reshape(G.resolution, G.resolution)[:G.num_ws, :G.w_dim]
    return clf.model.k * G.gain * v


def log_odds(G, clf, code):
    with torch.no_grad():
        logits = clf(code.render(G))
    return logits[:, 1] - logits[:, 0]


def stats_samples(G):
    """The W codes ``inversion.latent_stats`` measures the spread of W on (the unit of strengths)."""
    return w_samples(G, STATS_SAMPLES, STATS_SEED)


def edit_json(out):
    return json.loads((out / "edit.json").read_text())


@pytest.fixture(scope="module")
def SG():
    return make_tiny_generator(16).eval().requires_grad_(False)


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.body = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.Tanh(), nn.AvgPool2d(4), nn.Flatten(),
                                  nn.Linear(6 * 16, 3))

    def forward(self, x):
        return 5 * self.body(x)


@pytest.fixture(scope="module")
def sg_clf():
    return Classifier(TinyNet(), class_names=["ant", "bee", "cat"])


# -- parsers -----------------------------------------------------------------------------------------------
def test_parse_strengths_forms():
    assert parse_strengths("-3:3:7") == [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    assert parse_strengths("0:1:5") == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert parse_strengths(" -2, 0,1.5") == [-2.0, 0.0, 1.5]
    assert parse_strengths("2:2:1") == [2.0]
    assert parse_strengths(1.5) == [1.5] and parse_strengths([1, -1]) == [1.0, -1.0]


@pytest.mark.parametrize("text, words", [
    ("-3:3", "START:STOP:COUNT"), ("a:b:3", "not understood"), ("-1:1:0", "at least 1"), ("0:1:1", "cannot span"),
    ("1,,2", "not understood"), ("", "no strengths"), ("1,nan", "finite"), ("1:2:2.5", "not understood"),
])
def test_parse_strengths_errors(text, words):
    with pytest.raises(ValueError, match=words):
        parse_strengths(text)


def test_named_layer_ranges_follow_resolution_levels(SG):
    # 16x16 StyleGAN2: num_ws 6, rows style 4, 8, 8, 16, 16, 16(toRGB) -> levels split in thirds
    assert layer_ranges(SG) == {"coarse": [0], "middle": [1, 2], "fine": [3, 4, 5], "all": list(range(6))}
    big = SimpleNamespace(resolution=1024, num_ws=18)
    r = layer_ranges(big)
    assert r["coarse"] == list(range(0, 5)) and r["middle"] == list(range(5, 11)) and r["fine"] == list(range(11, 18))
    zoo_like = SimpleNamespace(resolution=32, num_ws=8)
    assert [layer_ranges(zoo_like)[k] for k in ("coarse", "middle", "fine")] == [[0, 1, 2], [3, 4], [5, 6, 7]]
    odd = SimpleNamespace(resolution=20, num_ws=7)  # not a StyleGAN2 layout: thirds of the rows
    assert [layer_ranges(odd)[k] for k in ("coarse", "middle", "fine")] == [[0, 1, 2], [3, 4], [5, 6]]


def test_parse_layers_forms_and_errors(SG):
    assert parse_layers("0-2", SG) == [0, 1, 2]
    assert parse_layers("4, 0-1", SG) == [0, 1, 4]
    assert parse_layers("FINE", SG) == [3, 4, 5]
    assert parse_layers(None, SG) == parse_layers("all", SG) == list(range(6))
    assert parse_layers([5, 2], SG) == [2, 5]
    with pytest.raises(ValueError, match=r"row\(s\) 6, 7 out of range.*num_ws=6"):
        parse_layers("0-7", SG)
    for bad in ("3-1", "top", "1-", ""):
        with pytest.raises(ValueError, match="coarse, middle, fine, all"):
            parse_layers(bad, SG)


def test_parse_direction_spec_forms_and_errors():
    assert parse_direction_spec("class:Sandal").classes == ("Sandal",)
    s = parse_direction_spec("boundary:Sneaker->Sandal")
    assert s.kind == "boundary" and s.classes == ("Sneaker", "Sandal")
    assert parse_direction_spec("boundary: T-shirt/top ").classes == ("T-shirt/top",)
    assert parse_direction_spec("pca:3").component == 3
    assert parse_direction_spec("dirs/smile.npy").path == "dirs/smile.npy"
    for bad, words in [("pca:x", "component index"), ("class:", "names no class"), ("smile", "not understood"),
                       ("boundary:->Sandal", "both classes"), ("dirs/smile.txt", "not understood")]:
        with pytest.raises(ValueError, match=words):
            parse_direction_spec(bad)


# -- directions --------------------------------------------------------------------------------------------
def test_gradient_direction_is_the_exact_gradient_on_a_linear_model(LG, lin_clf):
    code = LatentCode.from_seeds(LG, [0, 1, 2], "w")
    d = class_direction(LG, lin_clf, code, "pos")
    c = row_weights(LG, lin_clf)
    assert d.per_image and d.space == "w+" and d.target == "pos"
    for i in range(3):
        torch.testing.assert_close(d.vector[i], c / c.norm(), atol=1e-6, rtol=0)
    dw = class_direction(LG, lin_clf, code, "pos", space="w")
    torch.testing.assert_close(dw.vector[0], c.sum(0) / c.sum(0).norm(), atol=1e-6, rtol=0)


def test_strength_moves_log_odds_by_strength_times_sigma_times_gradient_norm(LG, lin_clf):
    code = LatentCode.from_seeds(LG, [3, 4], "w")
    d = class_direction(LG, lin_clf, code, "pos")
    strengths = [-1.0, 0.0, 0.5, 2.0]
    edit = edit_codes(LG, code, d, strengths)
    c = row_weights(LG, lin_clf)
    base = log_odds(LG, lin_clf, code)
    got = log_odds(LG, lin_clf, edit.code).reshape(2, 4) - base[:, None]
    expected = torch.tensor(strengths)[None] * edit.sigma[:, None] * c.norm()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    # sigma: sqrt(k * sum over the k edited rows of the variance of W along each row's shift)
    ws = stats_samples(LG).double()
    u = (c / c.norm()).double()
    expected_sigma = (LG.num_ws * sum((ws @ u[r]).var() for r in range(LG.num_ws))).sqrt()
    torch.testing.assert_close(edit.sigma[0].double(), expected_sigma, rtol=1e-5, atol=0)


def test_rows_pulling_apart_do_not_cancel_in_the_strength_unit(LG):
    v = torch.randn(LG.w_dim, generator=torch.Generator().manual_seed(2))
    v /= v.norm()
    rows = torch.zeros(LG.num_ws, LG.w_dim)
    rows[0], rows[1] = v, -v
    edit = edit_codes(LG, LatentCode.from_seeds(LG, [0], "w"), Direction("apart", "file", rows), [2.0], "0-1")
    delta = (edit.code.values - edit.start.values)[0]
    sd = (stats_samples(LG) @ v).std()
    # each edited row moves 2 std of W along its own shift, as a W direction on one row would
    torch.testing.assert_close(delta[0], 2 * sd * v, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(delta[1], -2 * sd * v, rtol=1e-4, atol=1e-6)


def test_gradient_raises_the_class_log_odds_for_small_positive_strengths(SG, sg_clf):
    code = LatentCode.from_seeds(SG, range(6), "w+")
    from cfgan.paths.probe import target_log_odds

    for target in ("bee", 2):
        d = class_direction(SG, sg_clf, code, target)
        edit = edit_codes(SG, code, d, [-0.02, 0.02, 0.05])
        t = sg_clf.class_index(target)
        with torch.no_grad():
            lo0 = target_log_odds(sg_clf(code.render(SG)), t)
            lo = target_log_odds(sg_clf(edit.code.render(SG)), t).reshape(6, 3)
        assert bool((lo[:, 1] > lo0).all()) and bool((lo[:, 2] > lo[:, 1]).all()), (lo0, lo)
        assert bool((lo[:, 0] < lo0).all())


def test_w_direction_on_fewer_rows_moves_each_edited_row_as_far(LG):
    u = torch.randn(LG.w_dim, generator=torch.Generator().manual_seed(0))
    d = Direction("u", "file", u)
    code = LatentCode.from_seeds(LG, [0, 1], "w")
    full = edit_codes(LG, code, d, [1.5])
    part = edit_codes(LG, code, d, [1.5], layers="1-2")
    dfull = full.code.values - full.start.values
    dpart = part.code.values - part.start.values
    torch.testing.assert_close(dpart[:, 1:3], dfull[:, 1:3], rtol=1e-5, atol=1e-6)
    # and a full-range W edit moves every row by 1.5 std of W along u
    un = u / u.norm()
    sd = (stats_samples(LG) @ un).std()
    torch.testing.assert_close((dfull[0, 0] @ un), 1.5 * sd, rtol=1e-4, atol=0)


def test_layer_range_changes_only_those_rows(SG):
    code = LatentCode.from_seeds(SG, [0, 1], "w")
    d = pca_directions(SG, 2)[1]
    edit = edit_codes(SG, code, d, [-2.0, 2.0], layers="middle")
    delta = (edit.code.values - edit.start.select([0, 0, 1, 1]).values).abs().amax(-1)  # [4, num_ws]
    rows = layer_ranges(SG)["middle"]
    others = [r for r in range(SG.num_ws) if r not in rows]
    assert bool((delta[:, others] == 0).all())
    assert bool((delta[:, rows] > 1e-3).all())


def _toy_samples(n=3000, dim=16, seed=0, threshold=0.3):
    g = torch.Generator().manual_seed(seed)
    ws = torch.randn(n, dim, generator=g)
    normal = torch.randn(dim, generator=g)
    normal /= normal.norm()
    labels = (ws @ normal > threshold).long()
    probs = torch.nn.functional.one_hot(labels, 2).float()
    return LatentSamples(ws, labels, probs, seed, class_names=["off", "on"]), normal


def test_boundary_separates_a_linearly_separable_labelling():
    samples, normal = _toy_samples()
    d = fit_boundary(samples, "on", seed=0)
    p = d.provenance
    assert p["held_out_accuracy"] >= 0.97 and p["held_out_balanced_accuracy"] >= 0.97
    assert p["n_held_out"] == 750 and p["n_positive"] + p["n_negative"] == 3000
    assert float(d.vector @ normal) >= 0.97  # points towards the positive class
    assert abs(float(d.vector.norm()) - 1) < 1e-6
    assert d.target == "on" and d.name == "boundary:on"
    # the offset puts the boundary where the labelling does: normal . w + offset = 0 at w . n = 0.3
    assert abs(-p["offset"] - 0.3) < 0.1
    # the same fit twice gives the same normal (seeded)
    torch.testing.assert_close(fit_boundary(samples, "on", seed=0).vector, d.vector)


def test_pairwise_boundary_uses_only_the_two_classes_and_reports_too_few():
    g = torch.Generator().manual_seed(1)
    ws = torch.randn(600, 8, generator=g)
    labels = torch.where(ws[:, 0] > 0.5, 2, torch.where(ws[:, 0] < -0.5, 0, 1))
    samples = LatentSamples(ws, labels, torch.nn.functional.one_hot(labels, 3).float(), 1, class_names=list("abc"))
    d = fit_boundary(samples, "c", "a")
    assert d.provenance["n_positive"] + d.provenance["n_negative"] == int((labels != 1).sum())
    assert d.provenance["held_out_accuracy"] == 1.0 and float(d.vector[0]) > 0.95
    assert d.name == "boundary:a->c"
    few = LatentSamples(ws[:40], torch.zeros(40, dtype=torch.long).index_fill(0, torch.tensor([1, 2]), 1),
                        torch.zeros(40, 2), 0, class_names=["x", "y"])
    with pytest.raises(ValueError, match="only 2 samples classified as 'y'.*at least 10"):
        fit_boundary(few, "y")
    with pytest.raises(ValueError, match="two different classes"):
        fit_boundary(samples, "a", "A")


def test_boundary_on_generated_samples_of_a_linear_classifier(LG, lin_clf):
    samples = labelled_samples(LG, lin_clf, 2000, seed=5)
    d = fit_boundary(samples, "pos", classifier=lin_clf)
    c = row_weights(LG, lin_clf).sum(0)
    assert d.provenance["held_out_accuracy"] >= 0.97
    assert float(d.vector @ (c / c.norm())) >= 0.98


def test_pca_directions_are_orthonormal_and_ordered_by_variance():
    G = LinearGenerator(w_dim=8, scales=[3.0, 2.5, 2.0, 1.5, 1.0, 0.7, 0.5, 0.3])
    dirs = pca_directions(G, 5, n=4000, seed=1)
    m = torch.stack([d.vector for d in dirs])
    torch.testing.assert_close(m @ m.T, torch.eye(5), atol=1e-5, rtol=0)
    ev = [d.provenance["explained_variance"] for d in dirs]
    assert ev == sorted(ev, reverse=True)
    # the first component is the mapping's widest axis (A's first column scaled by 3)
    axis = G.A[:, 0] / G.A[:, 0].norm()
    assert abs(float(m[0] @ axis)) > 0.98
    # its std is the unit of strengths along it
    sigma = direction_sigma(G, dirs[0].as_wplus(G.num_ws, 1) / G.num_ws ** 0.5)
    assert float(sigma) == pytest.approx(dirs[0].provenance["std"] * G.num_ws ** 0.5, rel=0.05)
    assert pca_directions(G, 5, n=4000, seed=1)[2].vector.equal(dirs[2].vector)


# -- kept directions ---------------------------------------------------------------------------------------
def test_projection_keeps_the_kept_coordinates_fixed(SG):
    code = LatentCode.from_seeds(SG, [0, 1, 2], "w+")
    pcs = pca_directions(SG, 3)
    g = torch.Generator().manual_seed(7)
    main = Direction("r", "file", torch.randn(SG.w_dim, generator=g) + 2 * pcs[0].vector)
    edit = edit_codes(SG, code, main, [-3.0, 3.0], keep=[pcs[0], pcs[1]])
    delta = edit.code.values - edit.start.select([0, 0, 1, 1, 2, 2]).values  # [6, L, D]
    for k in (pcs[0], pcs[1]):
        coord = delta @ k.vector
        assert float(coord.abs().max()) <= 1e-5 * float(delta.norm(dim=-1).max())
    plain = edit_codes(SG, code, main, [3.0])
    assert float(((plain.code.values - plain.start.values) @ pcs[0].vector).abs().max()) > 0.1
    assert 0 < float(edit.kept_fraction.min()) < 1


def test_projection_against_a_per_image_wplus_direction(SG, sg_clf):
    code = LatentCode.from_seeds(SG, [4, 5], "w+")
    bee = class_direction(SG, sg_clf, code, "bee")
    main = pca_directions(SG, 1)[0]
    edit = edit_codes(SG, code, main, [1.0], layers="0-3", keep=[bee])
    delta = edit.code.values - edit.start.values
    keep_rows = bee.vector[:, :4].flatten(1)
    inner = (delta[:, :4].flatten(1) * keep_rows).sum(1)
    assert float(inner.abs().max()) <= 1e-5 * float(delta.norm())
    assert bool((delta[:, 4:] == 0).all())


def test_editing_within_the_kept_span_is_an_error(SG):
    code = LatentCode.from_seeds(SG, [0], "w")
    pcs = pca_directions(SG, 2)
    mix = Direction("mix", "file", pcs[0].vector + pcs[1].vector)
    with pytest.raises(ValueError, match="entirely within the kept directions"):
        edit_codes(SG, code, mix, [1.0], keep=pcs)


# -- files -------------------------------------------------------------------------------------------------
def test_direction_files_roundtrip(SG, tmp_path):
    d = pca_directions(SG, 2)[1]
    d.save(str(tmp_path / "pc1.pt"), SG)
    back = load_direction(str(tmp_path / "pc1.pt"), SG)
    assert back.name == "pca:1" and back.kind == "pca" and back.vector.equal(d.vector)
    assert back.provenance["explained_variance"] == d.provenance["explained_variance"]
    d.save(str(tmp_path / "pc1.npy"))
    bare = load_direction(str(tmp_path / "pc1.npy"), SG)
    assert bare.name == "pc1" and bare.kind == "file" and torch.allclose(bare.vector, d.vector)
    wplus = np.random.default_rng(0).normal(size=(SG.num_ws, SG.w_dim)).astype(np.float32)
    np.save(tmp_path / "layers.npy", wplus)
    assert load_direction(str(tmp_path / "layers.npy"), SG).space == "w+"
    torch.save(torch.ones(SG.w_dim) * 3, tmp_path / "t.pt")
    assert abs(float(load_direction(str(tmp_path / "t.pt"), SG).vector.norm()) - 1) < 1e-6


@pytest.mark.parametrize("array, words", [
    (np.ones(5), r"shape \[5\]; this generator needs \[16\] or \[6, 16\]"),
    (np.ones((3, 16)), r"shape \[3, 16\]; this generator needs"),
    (np.ones((2, 6, 16)), r"shape \[2, 6, 16\]"),
    (np.zeros(16), "all-zero"),
    (np.full(16, np.nan), "non-finite"),
    (np.array(["a"] * 16), "not real numbers"),
])
def test_direction_file_errors_name_the_file(SG, tmp_path, array, words):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(ValueError, match=words) as err:
        load_direction(str(path), SG)
    assert str(path) in str(err.value)


def test_direction_file_type_errors(SG, tmp_path):
    with pytest.raises(ValueError, match=r"missing.txt: unsupported type \.txt"):
        load_direction(str(tmp_path / "missing.txt"), SG)
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        load_direction(str(tmp_path / "nope.npy"), SG)
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="junk.npy is not readable"):
        load_direction(str(tmp_path / "junk.npy"), SG)
    torch.save({"weights": torch.ones(3)}, tmp_path / "dict.pt")
    with pytest.raises(ValueError, match="dict.pt holds a dict that is not a cfgan direction"):
        load_direction(str(tmp_path / "dict.pt"), SG)


# -- crossings and the job ---------------------------------------------------------------------------------
def test_crossing_strength_is_refined_to_the_analytic_crossing(LG, lin_clf):
    code = LatentCode.from_seeds(LG, range(12), "w")
    lo0 = log_odds(LG, lin_clf, code)
    d = class_direction(LG, lin_clf, code, "pos")
    strengths = parse_strengths("-4:4:5")
    edit = edit_codes(LG, code, d, strengths)
    report = evaluate_edit(LG, lin_clf, edit, refine=8)
    c = row_weights(LG, lin_clf)
    exact = -lo0 / (edit.sigma * c.norm())  # log-odds(s) = lo0 + s sigma |c| crosses 0 here
    gap = 2.0 / 2 ** 8
    for i in range(12):
        if lo0[i] > 0:  # already 'pos'
            assert report.already_target[i] and report.crossing[i] is None
            assert report.crossing_negative[i] == pytest.approx(float(exact[i]), abs=gap)
        elif exact[i] <= 4:
            assert report.crossing[i] == pytest.approx(float(exact[i]), abs=gap)
            assert report.crossing[i] >= float(exact[i]) - 1e-4  # reported where it is already crossed
            assert report.crossed_to[i] == 1
        else:
            assert report.crossing[i] is None
    assert any(c is not None for c in report.crossing) and bool(report.already_target.any())


def test_run_edit_writes_everything_consistently(SG, sg_clf, tmp_path):
    code = LatentCode.from_seeds(SG, [0, 1, 2], "w")
    out = tmp_path / "edit"
    summary = run_edit(SG, sg_clf, code, "class:cat", "-1:2:4", str(out), layers="0-3", keep=["pca:0"],
                       names=["a", "b", "c"], batch=2, refine=3, fps=2)
    for f in ("edit.json", "latents.pt", "grid.png", "grid_labelled.png", "direction.pt", "a/edit.mp4",
              "c/edit.gif", "b/filmstrip.png", "b/frames/frame_003.png", "b/latents.pt", "b/direction.pt"):
        assert (out / f).is_file(), f
    report = edit_json(out)
    assert report["images"] == 3 and report["target"] == "cat" and report["strengths"] == [-1.0, 0.0, 1.0, 2.0]
    assert report["settings"]["layers"] == [0, 1, 2, 3] and report["settings"]["keep"][0]["name"] == "pca:0"
    rows = report["images_detail"]
    assert [r["name"] for r in rows] == ["a", "b", "c"] and all(len(r["frames"]) == 4 for r in rows)
    assert [json.loads((out / r["name"] / "report.json").read_text())["frames"] for r in rows] == \
        [r["frames"] for r in rows]  # each image's folder has its own row
    for r in rows:
        assert all(abs(sum(f["probs"]) - 1) < 1e-4 for f in r["frames"])
        if r["crossing_strength"] is not None:
            assert 0 < r["crossing_strength"] <= 2 and r["crossed_to"] == "cat"
    # the reached fraction by strength is what the frames say
    for j, s in enumerate(report["strengths"]):
        eligible = [r for r in rows if not r["already_target"]]
        frac = sum(r["frames"][j]["class"] == "cat" for r in eligible) / len(eligible)
        assert report["reached_fraction_by_strength"][f"{s:g}"] == pytest.approx(frac)
    # the saved latents reproduce the frames' classes
    edited, payload = load_latents(str(out / "latents.pt"), SG)
    assert len(edited) == 12 and edited.space == "w+" and payload["extra"]["names"] == ["a", "b", "c"]
    with torch.no_grad():
        pred = sg_clf(edited.render(SG)).argmax(1).tolist()
    names = sg_clf.class_names
    assert [names[k] for k in pred] == [f["class"] for r in rows for f in r["frames"]]
    assert summary["crossed"] == sum(r["crossing_strength"] is not None for r in rows)
    assert summary["complete"] and [i["key"] for i in summary["items"]] == ["a", "b", "c"]
    # the joined per-image direction is each image's gradient, whatever batch it was computed in
    joined = load_direction(str(out / "direction.pt"), SG)
    assert joined.per_image and len(joined) == 3 and len(joined.provenance["gradient_norm"]) == 3


def test_run_edit_is_deterministic_with_a_boundary(LG, lin_clf, tmp_path):
    code = LatentCode.from_seeds(LG, [0, 1], "w")
    kwargs = dict(n_samples=400, seed=3, videos=False, refine=2)
    run_edit(LG, lin_clf, code, "boundary:neg->pos", "0:2:3", str(tmp_path / "a"), **kwargs)
    run_edit(LG, lin_clf, code, "boundary:neg->pos", "0:2:3", str(tmp_path / "b"), **kwargs)
    a, b = edit_json(tmp_path / "a"), edit_json(tmp_path / "b")
    assert a["direction"] == b["direction"] and a["images_detail"] == b["images_detail"]
    assert a["direction"]["provenance"]["held_out_accuracy"] >= 0.95
    assert a["settings"]["samples"]["n"] == 400 and a["target"] == "pos"
    assert not list((tmp_path / "a").glob("*/edit.mp4")) and (tmp_path / "a" / "latent0000" / "filmstrip.png").is_file()
    da = load_direction(str(tmp_path / "a" / "direction.pt"), LG)
    assert da.kind == "boundary" and da.target == "pos"


def test_strength_zero_reproduces_the_start_with_its_noise_maps(SG):
    code = LatentCode.from_seeds(SG, [0, 1], "w+").with_noise(SG, seed=4)
    edit = edit_codes(SG, code, pca_directions(SG, 1)[0], [0.0, 1.0])
    assert edit.code.noise is not None and edit.code.noise[0].shape[0] == 4
    with torch.no_grad():
        start, frames = code.render(SG), edit.code.render(SG)
    torch.testing.assert_close(frames[[0, 2]], start, atol=1e-6, rtol=0)
    assert float((frames[[1, 3]] - start).abs().max()) > 1e-3


def test_edit_latent_file_names_images_after_their_files(SG, sg_clf, tmp_path):
    from cfgan.edit import edit_latent_file
    from inversion import save_latents

    code = LatentCode.from_seeds(SG, [5, 6], "w")
    path = save_latents(str(tmp_path / "inv" / "latents.pt"), code, SG,
                        extra={"files": ["shoes/left.png", "other/left.png"]})
    edit_latent_file(SG, sg_clf, path, "pca:1", "-1,1", str(tmp_path / "out"), target="ant", videos=False, refine=0)
    summary = edit_json(tmp_path / "out")
    assert [r["name"] for r in summary["images_detail"]] == ["shoes_left", "other_left"]  # as cross names them
    assert summary["settings"]["latent_file"] == os.path.abspath(path) and summary["target"] == "ant"
    with pytest.warns(UserWarning, match="pivotal tuning"):
        save_latents(path, code, SG, extra={"tuned_generator": "g_pti.pt"})
        edit_latent_file(SG, sg_clf, path, "pca:1", "1", str(tmp_path / "out2"), videos=False, refine=0)


def test_run_edit_takes_per_image_directions_in_batches(SG, sg_clf, tmp_path):
    code = LatentCode.from_seeds(SG, [0, 1, 2], "w")
    grad = class_direction(SG, sg_clf, code, "bee")
    run_edit(SG, sg_clf, code, grad, "0.5", str(tmp_path / "one"), batch=1, videos=False, refine=0)
    run_edit(SG, sg_clf, code, "class:bee", "0.5", str(tmp_path / "spec"), batch=3, videos=False, refine=0)
    one, spec = edit_json(tmp_path / "one"), edit_json(tmp_path / "spec")
    for a, b in zip(one["images_detail"], spec["images_detail"]):  # batch size changes only float rounding
        assert a["sigma"] == pytest.approx(b["sigma"], rel=1e-5)
        assert a["frames"][0]["probs"] == pytest.approx(b["frames"][0]["probs"], abs=1e-4)
        assert a["frames"][0]["class"] == b["frames"][0]["class"]
    saved = load_direction(str(tmp_path / "one" / "direction.pt"), SG)
    assert saved.per_image and torch.allclose(saved.vector, grad.vector)
