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
    for name in ["class04-coat/grid.png", "class03-dress/grid.png", "generator_panel.png",
                 "class04-coat/pixel_grid.png", "pixel_panel.png", "class04-coat/pixel_images.pt", "latents.pt",
                 "am.json"]:
        assert (out / name).is_file(), name
    report = json.loads((out / "am.json").read_text())
    assert report["settings"]["seed"] == 1 and report["settings"]["space"] == "w"
    assert report["settings"]["stop_at"] == 0.999
    assert list(report["targets"]) == ["Coat", "Dress"]
    images = report["images"]
    assert len(images) == 4 and [r["target"] for r in images] == ["Coat", "Coat", "Dress", "Dress"]
    assert all(0 <= r["prob"] <= 1 for r in images)
    coat = [r["prob"] for r in images if r["target"] == "Coat"]
    assert report["targets"]["Coat"]["prob_mean"] == pytest.approx(sum(coat) / 2, rel=1e-6)
    for target in report["targets"].values():  # the pixel baseline ran for the same targets
        assert 0 <= target["pixel"]["prob_mean"] <= 1 and target["pixel"]["restarts"] == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["done"] == 2
    G = generators.load(gen)
    code, payload = load_latents(str(out / "latents.pt"), G)
    assert len(code) == 4 and payload["extra"]["targets"] == ["Coat", "Dress"]
    assert payload["metrics"]["prob"] == pytest.approx([r["prob"] for r in images])


def test_am_all_classes_and_units(models, tmp_path):
    gen, clf = models
    out = tmp_path / "all"
    result = run(["am", "-g", gen, "-c", clf, "--class", "all", "--layer", "trunk.3", "--unit", "0",
                  "--unit", "5", "--restarts", "1", "--steps", "2", "--space", "w+", "--init", "best-of-k",
                  "--k", "4", "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "am.json").read_text())
    assert list(report["targets"]) == FASHION_MNIST_CLASSES + ["trunk.3[0]", "trunk.3[5]"]
    assert (out / "unit-trunk-3-5" / "grid.png").is_file()
    assert report["settings"]["init"] == "best-of-k"
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


def test_interrupted_run_keeps_what_it_reached(models, tmp_path, monkeypatch):
    """Ctrl-C during generator AM: the batch's targets are written as partial, exit code 130."""
    import cfgan.am.generator_am as generator_am

    gen, clf = models
    real = generator_am.optimize

    def interrupted(*a, progress=None, **k):
        def stop(step, total, info):
            if step == 2:
                raise KeyboardInterrupt
        return real(*a, progress=stop, **k)

    monkeypatch.setattr(generator_am, "optimize", interrupted)
    result = CliRunner().invoke(main, ["am", "-g", gen, "-c", clf, "--class", "Bag", "--restarts", "2",
                                       "--steps", "50", "--pixel", "--out", str(tmp_path), "--device", "cpu"])
    assert result.exit_code == 130, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["interrupted"] and [i["status"] for i in summary["items"]] == ["partial"]
    assert (tmp_path / "class08-bag" / "grid.png").is_file()
    assert not (tmp_path / "class08-bag" / "pixel_grid.png").exists()  # the baseline never started
