"""``cfgan cross`` end to end on a tiny saved generator and a toy classifier file."""
import json
import os
import textwrap

import pytest
import torch
from click.testing import CliRunner

import generators
from cfgan.cli import main
from cfgan.data import save_image
from inversion import LatentCode, save_latents

from tiny_models import make_tiny_generator

ARTEFACTS = ("filmstrip.png", "path.mp4", "path.gif", "probs.png", "change.png", "latents.pt", "report.json")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(folder, generator file, classifier spec with gradients, numpy classifier spec, G)."""
    root = tmp_path_factory.mktemp("cross")
    G = make_tiny_generator(32).eval()
    gen_file = str(root / "tiny.pt")
    generators.save(G, gen_file)
    G = generators.load(gen_file)
    with torch.no_grad():
        m0 = float(LatentCode.from_seeds(G, range(4), "w+").render(G).mean((1, 2, 3)).max()) + 0.05
    (root / "toyclf.py").write_text(textwrap.dedent(f"""
        import numpy as np
        import torch
        from torch import nn

        class Bright(nn.Module):
            def forward(self, x):
                m = x.mean((1, 2, 3))
                return torch.stack([torch.zeros_like(m), 20.0 * (m - {m0!r})], 1)

        def bright_numpy(x):
            m = x.mean(axis=(1, 2, 3))
            return np.stack([np.zeros_like(m), 20.0 * (m - {m0!r})], 1)
    """))
    return root, gen_file, f"{root / 'toyclf.py'}:Bright", f"{root / 'toyclf.py'}:bright_numpy", G


def _run(args):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result


def test_cross_from_seeds_writes_frames_videos_and_report(setup, tmp_path):
    root, gen, clf, _, _ = setup
    out = tmp_path / "out"
    res = _run(["cross", "--seed", "0-1", "-g", gen, "-c", clf, "--target", "1", "--source", "0",
                "--frames", "6", "--method", "ascent", "--schedule", "0,0.1,0.3,0.6,0.9,1", "--no-lpips",
                "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "2/2 paths crossed, 2 monotone" in res.output
    for name in ("seed00000", "seed00001"):
        folder = out / name
        assert sorted(os.listdir(folder / "frames")) == [f"frame_{t:03d}.png" for t in range(6)]
        for artefact in ARTEFACTS:
            assert (folder / artefact).stat().st_size > 0, artefact
        report = json.loads((folder / "report.json").read_text())
        assert report["crossed"] and report["monotone"] and report["method"] == "ascent"
        assert len(report["probs"]) == 6 and len(report["identity"]["pixel"]) == 6
        assert report["probs"] == sorted(report["probs"])
        assert report["settings"]["space"] == "w+" and report["seed"] == 0
        assert report["settings"]["schedule"] == [0, 0.1, 0.3, 0.6, 0.9, 1]
        assert report["timings"]["total"] > 0 and report["classifier_queries"] > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["paths"] == 2 and summary["crossed"] == 2 and summary["interrupted"] is False


def test_cross_from_an_image_inverts_it_first(setup, tmp_path):
    root, gen, clf, _, G = setup
    with torch.no_grad():
        save_image(G.sample(1, seed=2)[0], tmp_path / "subject.png")
    out = tmp_path / "out"
    res = _run(["cross", str(tmp_path / "subject.png"), "-g", gen, "-c", clf, "--target", "1",
                "--frames", "5", "--invert-steps", "20", "--steps", "15", "--no-lpips", "--device", "cpu",
                "--out", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "subject" / "report.json").read_text())
    assert report["method"] == "regularized" and report["lambda"] > 0
    assert report["reference_prob"] is not None and report["settings"]["inversion"]["steps"] == 20
    assert report["settings"]["inversion"]["class_agreement"] == 0.1  # inversion kept the subject's class
    assert len(report["predicted"]) == 5 and report["monotone"] in (True, False)
    assert report["monotone"] == (report["probs"] == sorted(report["probs"]))


def test_cross_from_a_latent_file(setup, tmp_path):
    root, gen, clf, _, G = setup
    latents = str(tmp_path / "codes.pt")
    save_latents(latents, LatentCode.from_seeds(G, [0, 3], "w+"), G)
    out = tmp_path / "out"
    res = _run(["cross", "--latents", latents, "-g", gen, "-c", clf, "--target", "1", "--frames", "4",
                "--method", "ascent", "--no-lpips", "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["latent0000", "latent0001"]


def test_blackbox_with_a_numpy_classifier_stays_within_budget(setup, tmp_path):
    root, gen, _, numpy_clf, _ = setup
    out = tmp_path / "out"
    args = ["--seed", "0", "-g", gen, "-c", numpy_clf, "--target", "1", "--frames", "5", "--no-lpips",
            "--device", "cpu", "--out", str(out)]
    refused = CliRunner().invoke(main, ["cross", *args])
    assert refused.exit_code != 0 and "no gradients" in refused.output and "blackbox" in refused.output
    res = _run(["cross", *args, "--method", "blackbox", "--query-budget", "300"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "seed00000" / "report.json").read_text())
    assert report["classifier_queries"] <= 300 and report["settings"]["query_budget"] == 300


@pytest.mark.parametrize("extra, message", [
    (["--target", "cat"], "class 'cat' is not an index"),
    (["--target", "1", "--method", "ascent", "--lambda", "2"], "--lambda applies to --method regularized"),
    (["--target", "1", "--identity", "latent=x"], "is not NAME=WEIGHT"),
    (["--target", "1", "--frames", "4", "--schedule", "0,0.5,1"], "has 3 values for 4 frames"),
    (["--target", "1", "--frames", "3", "--schedule", "0,0.7,0.5"], "must rise"),
    (["--target", "1", "--frames", "3", "--schedule", "0,0.5,0.8"], "the last 1"),
    (["--target", "1", "--schedule", "cubic"], "is not linear, logodds"),
])
def test_bad_options_fail_with_a_clear_message(setup, tmp_path, extra, message):
    root, gen, clf, _, _ = setup
    res = CliRunner().invoke(main, ["cross", "--seed", "0", "-g", gen, "-c", clf, "--device", "cpu",
                                    "--out", str(tmp_path / "o"), *extra])
    assert res.exit_code != 0 and message in res.output, res.output
    assert "Traceback" not in res.output


def test_no_subject_is_an_error(setup, tmp_path):
    root, gen, clf, _, _ = setup
    res = CliRunner().invoke(main, ["cross", "-g", gen, "-c", clf, "--target", "1", "--device", "cpu",
                                    "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "give exactly one of" in res.output


def test_an_interrupted_run_keeps_the_finished_paths_and_resumes(setup, tmp_path, monkeypatch):
    """Ctrl-C in the second batch: the first batch's paths stay done, the cut batch is written as partial,
    the command exits 130; the same command again redoes only the partial paths."""
    root, gen, clf, _, G = setup
    out = tmp_path / "out"
    args = ["cross", "--seed", "0-2", "-g", gen, "-c", clf, "--target", "1", "--method", "ascent", "--frames", "4",
            "--batch", "2", "--no-lpips", "--device", "cpu", "--out", str(out)]
    import cfgan.paths.ascent as ascent

    real_optimize, calls = ascent.optimize, []

    def interrupt_second_batch(*a, progress=None, **k):
        calls.append(1)

        def stop(step, total, info):
            if len(calls) == 2 and step == 1:
                raise KeyboardInterrupt
            if progress:
                progress(step, total, info)
        return real_optimize(*a, progress=stop, **k)

    monkeypatch.setattr(ascent, "optimize", interrupt_second_batch)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 130, res.output
    assert "interrupted: 2 of 3 items finished" in res.output and "1 written as partial" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["complete"] is False
    assert [(i["key"], i["status"]) for i in summary["items"]] == [
        ("seed00000", "done"), ("seed00001", "done"), ("seed00002", "partial")]
    assert json.loads((out / "seed00002" / "report.json").read_text())["interrupted"] is True
    done_before = (out / "seed00000" / "report.json").stat().st_mtime_ns

    monkeypatch.setattr(ascent, "optimize", real_optimize)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "resuming" in res.output and "2 of 3 items already done" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True and summary["paths"] == 3 and summary["interrupted"] is False
    assert json.loads((out / "seed00002" / "report.json").read_text())["interrupted"] is False
    assert (out / "seed00000" / "report.json").stat().st_mtime_ns == done_before  # not redone


@pytest.fixture(scope="module")
def judges(setup):
    """Judge specs for the toy: one that sees brightness like the classifier, one that never sees 'bright'."""
    root, gen, clf, _, _ = setup
    text = (root / "toyclf.py").read_text()
    (root / "judges.py").write_text(text + textwrap.dedent("""

        class Never(nn.Module):
            def forward(self, x):
                return torch.stack([torch.ones(x.shape[0]), torch.zeros(x.shape[0])], 1)
    """))
    return f"{root / 'judges.py'}:Bright", f"{root / 'judges.py'}:Never"


def test_cross_with_judges_labels_every_path(setup, judges, tmp_path):
    root, gen, clf, _, _ = setup
    agree, never = judges
    out = tmp_path / "out"
    res = _run(["cross", "--seed", "0-1", "-g", gen, "-c", clf, "--target", "1", "--frames", "5", "--method",
                "ascent", "--judge", agree, "--judge", never, "--no-lpips", "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "judges (Bright, Never): 0 genuine, 0 blind-spot, 2 mixed, 0 not crossed" in res.output
    report = json.loads((out / "seed00000" / "report.json").read_text())
    assert report["label"] == "mixed" and set(report["judges"]) == {"Bright", "Never"}
    assert report["judges"]["Bright"]["agrees_at_end"] and not report["judges"]["Never"]["agrees_at_end"]
    assert len(report["judges"]["Never"]["probs"]) == 5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["labels"]["mixed"] == 2 and summary["items"][0]["label"] == "mixed"
    import imageio.v3 as iio

    video = iio.imread(out / "seed00000" / "path.gif")
    assert video.shape[1] % 16 == 0 and video.shape[1] >= 256 + 32  # frame plus the classifier's and 2 judges' bars


def test_cross_require_judges_end_to_end(setup, judges, tmp_path):
    root, gen, clf, _, _ = setup
    agree, _ = judges
    out = tmp_path / "out"
    res = _run(["cross", "--seed", "0", "-g", gen, "-c", clf, "--target", "1", "--frames", "5",
                "--judge", agree, "--require-judges", "--no-lpips", "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "seed00000" / "report.json").read_text())
    assert report["settings"]["require_judges"] is True and report["label"] == "genuine"
    refused = CliRunner().invoke(main, ["cross", "--seed", "0", "-g", gen, "-c", clf, "--target", "1",
                                        "--require-judges", "--device", "cpu", "--out", str(tmp_path / "o")])
    assert refused.exit_code != 0 and "--require-judges needs at least one --judge" in refused.output


def test_cross_several_paths_per_image(setup, tmp_path):
    root, gen, clf, _, _ = setup
    out = tmp_path / "out"
    res = _run(["cross", "--seed", "0-1", "-g", gen, "-c", clf, "--target", "1", "--frames", "4", "--method",
                "ascent", "--paths-per-image", "3", "--diversity", "50", "--batch", "1", "--max-images", "2",
                "--no-lpips", "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "6/6 paths crossed" in res.output
    folder = out / "seed00001"
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["rank0", "rank1", "rank2"]
    assert (folder / "paths.png").stat().st_size > 0
    listing = json.loads((folder / "report.json").read_text())
    assert [p["rank"] for p in listing["paths"]] == [0, 1, 2] and listing["end_frame_distance"] > 0
    at = [p["identity_at_crossing"]["pixel"] for p in listing["paths"]]
    assert at == sorted(at)
    for rank in range(3):
        report = json.loads((folder / f"rank{rank}" / "report.json").read_text())
        assert report["rank"] == rank and report["subject"] == "seed 1" and report["settings"]["paths_per_image"] == 3
        assert report["settings"]["memory"]["max_items"] == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["paths"] == 6 and summary["subjects"] == 2
    refused = CliRunner().invoke(main, ["cross", "--seed", "0", "-g", gen, "-c", clf, "--target", "1",
                                        "--paths-per-image", "2", "--lambda", "3", "--device", "cpu",
                                        "--out", str(tmp_path / "o")])
    assert refused.exit_code != 0 and "--paths-per-image needs the adaptive" in refused.output
