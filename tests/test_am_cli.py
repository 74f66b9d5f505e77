"""`cfgan am` end to end on a tiny generator file and a tiny classifier file: files, JSON, errors."""
import json
import os

import pytest
from click.testing import CliRunner

import generators
from cfgan.classifiers import save_classifier
from cfgan.cli import main
from cfgan.data import FASHION_MNIST_CLASSES
from cfgan.models.fmnist_cnn import FashionMNISTCNN
from inversion import load_latents

from tiny_models import make_tiny_generator


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("am_models")
    G = make_tiny_generator(16)
    gen_path = folder / "g.pt"
    generators.save(G, gen_path)
    net = FashionMNISTCNN(width=4, feature_dim=8, resolution=16).eval()
    clf_path = folder / "c.pt"
    save_classifier(clf_path, net, "fmnist_cnn", dict(width=4, feature_dim=8, resolution=16),
                    class_names=FASHION_MNIST_CLASSES)
    return str(gen_path), str(clf_path)


def run(args):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result


def test_am_writes_grids_panels_latents_and_json(models, tmp_path):
    gen, clf = models
    out = tmp_path / "am"
    result = run(["am", "-g", gen, "-c", clf, "--class", "Coat", "--class", "3", "--restarts", "2",
                  "--steps", "3", "--stop-at", "0.999", "--pixel", "--seed", "1", "--out", str(out),
                  "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "Coat: mean probability" in result.output
    for name in ["generator/class04-coat.png", "generator/class03-dress.png", "generator_panel.png",
                 "pixel/class04-coat.png", "pixel_panel.png", "pixel_images.pt", "latents.pt", "am.json"]:
        assert (out / name).is_file(), name
    report = json.loads((out / "am.json").read_text())
    assert report["seed"] == 1 and report["interrupted"] is False
    for method in ("generator", "pixel"):
        summary = report[method]["summary"]
        assert list(summary) == ["Coat", "Dress"]
        images = report[method]["images"]
        assert len(images) == 4 and [r["target"] for r in images] == ["Coat", "Coat", "Dress", "Dress"]
        assert all(0 <= r["prob"] <= 1 for r in images)
        coat = [r["prob"] for r in images if r["target"] == "Coat"]
        assert summary["Coat"]["prob_mean"] == pytest.approx(sum(coat) / 2, rel=1e-6)
    assert report["generator"]["settings"]["space"] == "w" and report["generator"]["seconds"] > 0
    assert report["generator"]["settings"]["stop_at"] == report["pixel"]["settings"]["stop_at"] == 0.999
    G = generators.load(gen)
    code, payload = load_latents(str(out / "latents.pt"), G)
    assert len(code) == 4 and payload["extra"]["targets"] == ["Coat", "Dress"]
    assert payload["metrics"]["prob"] == pytest.approx([r["prob"] for r in report["generator"]["images"]])


def test_am_all_classes_and_units(models, tmp_path):
    gen, clf = models
    out = tmp_path / "all"
    result = run(["am", "-g", gen, "-c", clf, "--class", "all", "--layer", "trunk.3", "--unit", "0",
                  "--unit", "5", "--restarts", "1", "--steps", "2", "--space", "w+", "--init", "best-of-k",
                  "--k", "4", "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "am.json").read_text())
    assert list(report["generator"]["summary"]) == FASHION_MNIST_CLASSES + ["trunk.3[0]", "trunk.3[5]"]
    assert (out / "generator" / "unit-trunk-3-5.png").is_file()
    assert report["generator"]["settings"]["init"] == "best-of-k"
    assert not os.path.exists(out / "pixel_panel.png")


@pytest.mark.parametrize("args, message", [
    (["--class", "Hat"], "unknown class 'Hat'"),
    (["--class", "12"], "out of range"),
    (["--layer", "trunk.99", "--unit", "0"], "unknown layer 'trunk.99'"),
    (["--unit", "2"], "--unit needs --layer"),
    ([], "nothing to maximise"),
])
def test_am_bad_targets_fail_clearly(models, tmp_path, args, message):
    gen, clf = models
    result = CliRunner().invoke(main, ["am", "-g", gen, "-c", clf, "--steps", "1",
                                       "--out", str(tmp_path / "x"), "--device", "cpu"] + args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_interrupted_run_keeps_what_it_reached(models, tmp_path):
    from cfgan.am import run_am
    from cfgan.classifiers import load_classifier

    gen, clf = models
    G, C = generators.load(gen), load_classifier(clf)

    def interrupt(step, total, info):
        if step == 2:
            raise KeyboardInterrupt

    report = run_am(G, C, ["Bag"], str(tmp_path), restarts=2, steps=50, pixel=True, progress=interrupt)
    assert report["interrupted"] is True and "pixel" not in report
    saved = json.loads((tmp_path / "am.json").read_text())
    assert saved["interrupted"] is True and len(saved["generator"]["images"]) == 2
    assert (tmp_path / "generator_panel.png").is_file() and (tmp_path / "latents.pt").is_file()
