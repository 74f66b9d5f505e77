"""`cfgan saliency` and `cfgan evaluate`: the files they write, resuming, and one-line errors."""
import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cfgan.cli import main
from cfgan.data import save_image

from tiny_models import TINY_CLASSIFIER_SPEC, make_tiny_generator


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """Four 16x16 gray images with content in different places."""
    folder = tmp_path_factory.mktemp("images")
    g = torch.Generator().manual_seed(0)
    for i in range(4):
        img = -torch.ones(1, 16, 16)
        r, c = 2 + 3 * (i % 2), 2 + 5 * (i // 2)
        img[:, r:r + 7, c:c + 6] = torch.rand(1, 7, 6, generator=g) * 1.6 - 0.6
        save_image(img, folder / f"img{i}.png")
    return folder


def run(args):
    return CliRunner().invoke(main, [*args, "--device", "cpu"], catch_exceptions=False)


def test_saliency_writes_overlay_map_and_json_per_image(image_dir, tmp_path, one_thread):
    files = [str(image_dir / "img0.png"), str(image_dir / "img1.png")]
    out = tmp_path / "sal"
    result = run(["saliency", *files, "--method", "gradient", "-c", TINY_CLASSIFIER_SPEC, "--target", "2",
                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 gradient maps" in result.output
    for key in ("img0", "img1"):
        m = np.load(out / key / "map.npy")
        assert m.shape == (16, 16) and np.isfinite(m).all() and m.max() > 0
        record = json.loads((out / key / "saliency.json").read_text())
        assert record["method"] == "gradient" and record["target"] == 2
        assert (out / key / "overlay.png").stat().st_size > 200
    assert (out / "index.html").is_file()
    again = run(["saliency", *files, "--method", "gradient", "-c", TINY_CLASSIFIER_SPEC, "--target", "2",
                 "--out", str(out)])
    assert "resuming" in again.output and "2 of 2 items already done" in again.output


@pytest.mark.parametrize("args, message", [
    (["--method", "sharpie"], "unknown saliency method 'sharpie'"),
    (["--method", "fido"], "needs a generator"),
    (["--method", "gradient", "--target", "Unicorn"], "--target"),
    (["--method", "gradient", "--option", "nonsense=1"], "unknown option 'nonsense'"),
])
def test_saliency_errors_are_one_line(image_dir, tmp_path, args, message):
    result = run(["saliency", str(image_dir / "img0.png"), "-c", TINY_CLASSIFIER_SPEC, *args,
                  "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_saliency_missing_image_is_named(tmp_path):
    result = run(["saliency", str(tmp_path / "nope.png"), "--method", "gradient", "-c", TINY_CLASSIFIER_SPEC,
                  "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "nope.png" in result.output and "Traceback" not in result.output


def evaluate_args(image_dir, out, extra=()):
    return ["evaluate", "-c", TINY_CLASSIFIER_SPEC, "--methods", "gradient,occlusion", "--images", str(image_dir),
            "--fills", "gray,black", "--k", "20", "--batch", "2", "--out", str(out), *extra]


def test_evaluate_writes_csv_plot_and_a_map_per_method_and_image(image_dir, tmp_path, one_thread):
    out = tmp_path / "ev"
    result = run(evaluate_args(image_dir, out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "evaluation.csv").open()))
    assert [r["method"] for r in rows] == ["gradient", "occlusion"]
    for r in rows:
        assert r["images"] == "4"
        assert float(r["flip_gray@0"]) == 0.0  # nothing flipped yet
        for key in ("deletion_auc", "insertion_auc", "topk_overlap", "sensitivity_max", "seconds_per_image"):
            assert r[key] != "" and float(r[key]) >= 0, key
        assert 0 <= float(r["topk_overlap"]) <= 1
    assert (out / "evaluation.png").stat().st_size > 5000
    assert len(list(out.glob("*--img*/map.npy"))) == 8
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["plot"] == "evaluation.png"


def test_evaluate_resumes_without_redoing_finished_items(image_dir, tmp_path, monkeypatch, one_thread):
    import cfgan.jobs.evaluate as ev

    real = ev.evaluate_batch
    calls = []

    def interrupted_after_two_batches(method, name, clf, x, seeds, *a, **k):
        calls.append((name, list(seeds)))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(method, name, clf, x, seeds, *a, **k)

    monkeypatch.setattr(ev, "evaluate_batch", interrupted_after_two_batches)
    out = tmp_path / "resume"
    first = CliRunner().invoke(main, [*evaluate_args(image_dir, out, ["--no-robustness"]), "--device", "cpu"])
    assert first.exit_code == 130, first.output
    assert len((out / "items.jsonl").read_text().splitlines()) == 4  # two batches of two
    calls.clear()
    monkeypatch.setattr(ev, "evaluate_batch", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    second = run(evaluate_args(image_dir, out, ["--no-robustness"]))
    assert second.exit_code == 0, second.output
    assert calls == ["occlusion", "occlusion"]  # only the unfinished (method, image) pairs
    fresh = tmp_path / "fresh"
    assert run(evaluate_args(image_dir, fresh, ["--no-robustness"])).exit_code == 0
    assert (out / "evaluation.csv").read_text().split("\n")[1].split(",")[:-1] == \
        (fresh / "evaluation.csv").read_text().split("\n")[1].split(",")[:-1]  # all but the seconds


@pytest.mark.parametrize("args, message", [
    (["--methods", "gradient,sharpie"], "unknown saliency method 'sharpie'"),
    (["--methods", "gradient", "--fills", "pink"], "unknown fill 'pink'"),
    (["--methods", "gradient", "--option", "steps=3"], "is not METHOD.NAME"),
])
def test_evaluate_errors_are_one_line(image_dir, tmp_path, args, message):
    result = run(["evaluate", "-c", TINY_CLASSIFIER_SPEC, "--images", str(image_dir), *args,
                  "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_evaluate_names_a_missing_or_empty_folder(tmp_path):
    for folder, message in ((tmp_path / "none", "no such folder"), (tmp_path, "no image files")):
        result = run(["evaluate", "-c", TINY_CLASSIFIER_SPEC, "--methods", "gradient", "--images", str(folder),
                      "--out", str(tmp_path / "x")])
        assert result.exit_code != 0 and message in result.output and "--images" in result.output


def test_gan_fill_keeps_the_kept_pixels_and_fills_the_rest_from_the_generator(one_thread):
    from cfgan.saliency.evaluation import gan_fill
    from cfgan.saliency.metrics import apply_fill

    G = make_tiny_generator(16, 16).eval().requires_grad_(False)
    with torch.no_grad():
        images = G(G.sample_z(3, 5)).clamp(-1, 1)
    keep = torch.zeros(3, 1, 16, 16)
    keep[:, :, :8] = 1
    fill = gan_fill(G, seed=0, bank=16)
    filled = apply_fill(images, keep, fill)
    assert torch.equal(filled[:, :, :8], images[:, :, :8])
    assert not torch.equal(filled[:, :, 8:], images[:, :, 8:]) and filled.abs().max() <= 1
    assert torch.equal(apply_fill(images, keep, fill), filled)  # deterministic


def test_evaluate_with_a_generator_adds_the_gan_fill_and_runs_fido(image_dir, tmp_path, saved_generator, one_thread):
    out = tmp_path / "gan"
    result = run(["evaluate", "-c", TINY_CLASSIFIER_SPEC, "-g", saved_generator(32), "--methods", "fido,gradient",
                  "--images", str(image_dir), "--limit", "2", "--fills", "gray,gan", "--no-robustness",
                  "--option", "fido.steps=3", "--option", "fido.bank=16", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["method"]: r for r in csv.DictReader((out / "evaluation.csv").open())}
    assert set(rows) == {"fido", "gradient"}
    for r in rows.values():
        assert r["flip_gan@0"] == "0.0" and r["flip_gan@1"] != "" and r["topk_overlap"] == ""
    settings = json.loads((out / "job.json").read_text())["settings"]
    assert settings["fills"] == ["gray", "gan"] and settings["options"]["fido"] == {"steps": 3, "bank": 16}
