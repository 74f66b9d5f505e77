"""``cfgan edit`` and ``cfgan surrogate`` end to end on a tiny saved generator and the tiny classifier file:
the files each run writes, resume without work, clear errors for bad options, Ctrl-C (exit 130) and resume."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import generators
from cfgan.cli import main
from inversion import LatentCode, load_latents, save_latents

from tiny_models import TINY_CLASSIFIER_SPEC, make_tiny_generator

pytestmark = pytest.mark.usefixtures("one_thread")

ITEM_FILES = ("filmstrip.png", "frames/frame_000.png", "frames/frame_002.png", "edit.mp4", "edit.gif", "latents.pt",
              "direction.pt", "report.json")
RUN_FILES = ("latents.pt", "grid.png", "grid_labelled.png", "direction.pt", "edit.json", "summary.json")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(generator file, latent file of three codes named after image files, the loaded generator)."""
    root = tmp_path_factory.mktemp("edit")
    gen = str(root / "tiny.pt")
    generators.save(make_tiny_generator(16), gen)
    G = generators.load(gen)
    codes = save_latents(str(root / "latents.pt"), LatentCode.from_seeds(G, range(3), "w+"), G,
                         extra={"files": ["shoes/a.png", "shoes/b.png", "bags/c.png"]})
    return gen, codes, G


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def edit_args(setup, out, *more):
    gen, codes, _ = setup
    return ("edit", codes, "-g", gen, "-c", TINY_CLASSIFIER_SPEC, "--direction", "class:1", "--strengths", "-1:1:3",
            "--refine", "2", "--fps", "2", "--device", "cpu", "--out", out, *more)


def test_edit_writes_each_image_and_the_combined_files_then_resumes_without_work(setup, tmp_path, monkeypatch):
    _, _, G = setup
    out = tmp_path / "out"
    args = edit_args(setup, out, "--layers", "coarse", "--keep", "pca:0", "--batch", "2")
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    assert "images crossed into 1" in res.output and "edit.json" in res.output
    keys = ["a", "b", "c"]  # the inverted files' names, as cfgan cross names them
    for key in keys:
        for name in ITEM_FILES:
            assert (out / key / name).stat().st_size > 0, (key, name)
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    report = json.loads((out / "edit.json").read_text())
    assert report["images"] == 3 and report["complete"] and report["target"] == "1"
    assert report["strengths"] == [-1.0, 0.0, 1.0] and set(report["reached_fraction_by_strength"]) == {"-1", "0", "1"}
    assert report["settings"]["layers"] == [0] and report["settings"]["keep"][0]["name"] == "pca:0"
    rows = report["images_detail"]
    assert [r["name"] for r in rows] == keys
    for r in rows:
        item = json.loads((out / r["name"] / "report.json").read_text())
        assert item["frames"] == r["frames"] and len(item["frames"]) == 3
        assert all(abs(sum(f["probs"]) - 1) < 1e-4 for f in item["frames"])
    edited, payload = load_latents(str(out / "latents.pt"), G)
    assert len(edited) == 9 and payload["extra"]["names"] == keys and payload["extra"]["image_index"][3:6] == [1] * 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["crossed"] == report["crossed"]
    before = {k: (out / k / "report.json").stat().st_mtime_ns for k in keys}

    import cfgan.jobs.edit as edit_job

    def no_work(*a, **k):
        raise AssertionError("a resumed run that is already complete edited an image again")

    monkeypatch.setattr(edit_job.EditJob, "run", no_work)
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    assert "resuming" in res.output and "3 of 3 items already done" in res.output
    assert {k: (out / k / "report.json").stat().st_mtime_ns for k in keys} == before
    res = invoke(*edit_args(setup, out, "--layers", "fine"))  # other settings: refused, not mixed in
    assert res.exit_code == 1 and "--overwrite" in res.output and "layers" in res.output


@pytest.mark.parametrize("option, value, words", [
    ("--direction", "smile", "not understood"),
    ("--direction", "pca:x", "component index"),
    ("--direction", "class:Sandal", "not an index"),
    ("--direction", "pca:999", "out of range"),
    ("--direction", "missing.npy", "not found"),
    ("--direction", "boundary:->1", "both classes"),
    ("--keep", "class:", "names no class"),
    ("--strengths", "1:2", "START:STOP:COUNT"),
    ("--layers", "0-99", "out of range"),
    ("--target", "9", "out of range"),
])
def test_bad_options_are_click_errors_naming_the_option_before_any_folder(setup, tmp_path, option, value, words):
    out = tmp_path / "out"
    args = list(edit_args(setup, out, "--no-videos"))
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    res = invoke(*args)
    assert res.exit_code == 2, res.output
    assert f"Invalid value for {option}:" in res.output and words in res.output, res.output
    assert "Traceback" not in res.output and not out.exists()


def test_a_direction_file_of_the_wrong_shape_is_a_clear_error(setup, tmp_path):
    np.save(tmp_path / "short.npy", np.ones(5, dtype=np.float32))
    res = invoke(*edit_args(setup, tmp_path / "out"), "--direction", tmp_path / "short.npy")
    assert res.exit_code == 2 and "Invalid value for --direction:" in res.output
    assert "shape [5]" in res.output and not (tmp_path / "out").exists()
    res = invoke(*edit_args(setup, tmp_path / "out"), "--direction", "class:1", "-c", "nope.py:f")
    assert res.exit_code == 1 and "--classifier" in res.output and "Traceback" not in res.output


def test_an_interrupted_edit_keeps_the_finished_images_and_resumes(setup, tmp_path, monkeypatch):
    """Ctrl-C in the second batch: the first image stays done, the command exits 130; the same command
    again edits only the rest."""
    out = tmp_path / "out"
    args = edit_args(setup, out, "--batch", "1", "--no-videos")
    import cfgan.jobs.edit as edit_job

    real, calls = edit_job.evaluate_edit, []

    def interrupt_second_batch(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(edit_job, "evaluate_edit", interrupt_second_batch)
    res = invoke(*args)
    assert res.exit_code == 130, res.output
    assert "interrupted: 1 of 3 items finished" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and not summary["complete"]
    assert [(i["key"], i["status"]) for i in summary["items"]] == [("a", "done")]
    assert json.loads((out / "edit.json").read_text())["images"] == 1  # combined files cover what is done
    assert not (out / "b").exists()
    done_before = (out / "a" / "report.json").stat().st_mtime_ns

    monkeypatch.setattr(edit_job, "evaluate_edit", real)
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    assert "1 of 3 items already done" in res.output
    report = json.loads((out / "edit.json").read_text())
    assert report["images"] == 3 and report["complete"] and [r["name"] for r in report["images_detail"]] == \
        ["a", "b", "c"]
    assert (out / "a" / "report.json").stat().st_mtime_ns == done_before  # not redone
    # batching does not change an image's record: the same edit in one batch gives the same rows
    res = invoke(*edit_args(setup, tmp_path / "one", "--batch", "3", "--no-videos"))
    assert res.exit_code == 0, res.output
    together = json.loads((tmp_path / "one" / "edit.json").read_text())["images_detail"]
    for a, b in zip(report["images_detail"], together):
        assert a["sigma"] == pytest.approx(b["sigma"], rel=1e-5) and a["crossing_strength"] == b["crossing_strength"]
        assert [f["class"] for f in a["frames"]] == [f["class"] for f in b["frames"]]
        assert np.allclose([f["probs"] for f in a["frames"]], [f["probs"] for f in b["frames"]], atol=1e-4)


def test_surrogate_writes_the_tree_and_resumes_without_work(setup, tmp_path, monkeypatch):
    gen, _, _ = setup
    out = tmp_path / "sur"
    args = ("surrogate", "-g", gen, "-c", TINY_CLASSIFIER_SPEC, "--depth", "2", "--directions", "pca", "--k", "3",
            "--samples", "300", "--device", "cpu", "--out", out)
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    assert "depth-2 tree over 3 pca directions agrees with the classifier on" in res.output
    payload = json.loads((out / "surrogate.json").read_text())
    assert payload["depth"] == 2 and set(payload["fidelity_by_depth"]) == {str(d) for d in range(1, 7)}
    assert payload["samples"]["n"] == 300 and [f["name"] for f in payload["features"]] == ["pca:0", "pca:1", "pca:2"]
    for strip in payload["strips"]:
        assert (out / strip["file"]).is_file()
    assert (out / "tree.png").stat().st_size > 1000
    saved = torch.load(out / "directions.pt", weights_only=True)
    assert saved["names"] == ["pca:0", "pca:1", "pca:2"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["fidelity_by_depth"] == payload["fidelity_by_depth"]

    import cfgan.jobs.surrogate as surrogate_job

    def no_work(*a, **k):
        raise AssertionError("a resumed run that is already complete fitted the tree again")

    monkeypatch.setattr(surrogate_job.SurrogateJob, "run", no_work)
    res = invoke(*args)
    assert res.exit_code == 0 and "1 of 1 items already done" in res.output, res.output


def test_surrogate_option_errors(setup, tmp_path):
    gen, _, _ = setup
    base = ("surrogate", "-g", gen, "-c", TINY_CLASSIFIER_SPEC, "--device", "cpu", "--out", tmp_path / "o")
    res = invoke(*base, "--directions", "ica")
    assert res.exit_code == 2 and "Invalid value for '--directions'" in res.output
    res = invoke(*base, "--directions", "pca", "--k", "99")
    assert res.exit_code == 2 and "Invalid value for --k:" in res.output and "1..16" in res.output
    assert not (tmp_path / "o").exists()
