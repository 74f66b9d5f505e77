"""The example edit scripts run end to end on the bundled models (tiny options) and write what they say."""
import importlib.util
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_thread")


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:LPIPS")
def test_sneaker_to_sandal_saves_exactly_the_crossed_frames(tmp_path):
    import generators
    from cfgan.classifiers import load_classifier
    from cfgan.data import load_image

    script = load_script("example_sneaker_to_sandal")
    out = tmp_path / "s2s"
    summary = script.main(["--out", str(out), "--invert-steps", "60", "--max-images", "2", "--strengths", "0:4:5"])
    rows = summary["images"]
    clf = load_classifier("zoo:fashion-mnist")
    assert len(rows) == 2 and all(r["start_class"] in clf.class_names for r in rows)
    crossed = sorted(os.listdir(out / "crossed"))
    assert crossed == sorted(f"{r['name']}.png" for r in rows if r["crossing_strength"] is not None)
    assert summary["crossed"] == len(crossed) >= 1
    G = generators.load("zoo:fashion-mnist")
    for r in rows:
        if r["crossing_strength"] is not None:
            assert 0 < r["crossing_strength"] <= r["frame_strength"] <= 4
            saved = load_image(r["file"], size=G.resolution, channels=G.channels)[None]
            assert clf.class_name(int(clf(saved).argmax())) == "Sandal"  # the saved frame is a sandal
    assert (out / "grid.png").is_file() and json.loads((out / "summary.json").read_text())["crossed"] == len(crossed)


def test_pca_explore_writes_a_grid_per_component(tmp_path):
    script = load_script("example_pca_explore")
    out = tmp_path / "pca"
    summary = script.main(["--out", str(out), "--seeds", "0-2", "--components", "2", "--strengths=-2:2:3",
                           "--pca-samples", "2000", "--layers", "coarse"])
    assert [c["direction"]["name"] for c in summary["components"]] == ["pca:0", "pca:1"]
    for c in summary["components"]:
        assert os.path.isfile(c["grid"]) and 0 <= c["low"]["changed"] <= 3 and 0 <= c["high"]["changed"] <= 3
        assert sum(c["high"]["into"].values()) == c["high"]["changed"]
    assert summary["seeds"] == [0, 1, 2]
