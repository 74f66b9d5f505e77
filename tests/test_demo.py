"""`cfgan demo --quick` on the bundled models: the newcomer's first command must produce every section, and
its report must show them in a real browser."""
import json
import os
import re

import pytest
from click.testing import CliRunner

from cfgan.cli import main

import report_browser

pytestmark = pytest.mark.slow  # about a minute on 2 CPU cores


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    result = CliRunner().invoke(main, ["demo", "--quick", "--out", str(out), "--device", "cpu"],
                                catch_exceptions=False)
    return out, result


def test_quick_demo_writes_every_section_and_only_monotone_paths(demo_run):
    out, result = demo_run
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'index.html'}" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inversion"]["psnr"] > 14  # a reconstruction, not noise (quick: 60 steps)
    pairs = summary["crossings"]
    assert [(p["source"], p["target"]) for p in pairs] == [("Shirt", "T-shirt/top"), ("Pullover", "Coat"),
                                                            ("Sneaker", "Sandal")]
    for p in pairs:
        # a path reported monotone must be monotone; the demo's paths must all get there and cross
        assert p["monotone"] and p["probs"] == sorted(p["probs"]), p
        assert p["crossed"] and p["probs"][-1] > 0.5 > p["probs"][0], p
    assert len(summary["am"]) == 10 and min(summary["am"].values()) > 0.8  # quick: 8 steps from best of 256
    # the report shows every section: per pair its path; per input its reconstruction; per class its AM grid
    index = (out / "index.html").read_text()
    labels = [p["label"] for p in pairs]  # the judge's verdict per path, counted above the table and in a column
    assert set(labels) <= {"genuine", "blind-spot", "mixed"} and '<th scope="col">judges</th>' in index
    said = ", ".join(f"{labels.count(k)} {k}" for k in sorted(set(labels)))
    assert f"Independent judges call {said} (" in index
    linked = re.findall(r'<img src="([^"]+)"', index)
    assert len(linked) >= 3 * 5 + 6 * 2 + 10 + 1
    for rel in linked:
        assert rel.startswith("data:image/png;base64,") or os.path.isfile(out / rel), rel
    for p in pairs:
        assert f'<h3>{p["source"]} → {p["target"]}</h3>' in index
        assert f'crossings/{p["name"]}/path.mp4' in index and f'crossings/{p["name"]}/filmstrip.png' in index
    assert index.count("<figcaption>reconstruction: PSNR") == 6
    # saliency: FIDO with GAN in-fill beside gradient and occlusion, for each crossing subject
    assert "Where the classifier looks (saliency)" in index
    assert all(index.count(f"<figcaption>{m}: ") == 3 for m in ("fido", "gradient", "occlusion"))
    assert len(list((out / "saliency").glob("*-fido.png"))) == 3
    assert all(f"<figcaption>{name}: mean p" in index for name in summary["am"])


@pytest.mark.skipif(report_browser.missing() is not None, reason=str(report_browser.missing()))
def test_demo_report_in_a_browser_at_laptop_and_phone_width(demo_run, tmp_path, capsys):
    out, result = demo_run
    assert result.exit_code == 0, result.output
    driver = report_browser.start()
    try:
        results = report_browser.inspect_page(driver, out / "index.html", tmp_path, name="demo")
    finally:
        driver.quit()
    for facts in results:
        with capsys.disabled():
            print(f"\n[browser] demo report at {facts['width']} px: {facts['images']} images (broken "
                  f"{len(facts['broken'])}), videos ready {[v['readyState'] for v in facts['videos']]}, "
                  f"{facts['requests']} requests (remote {len(facts['remote'])}, failed {len(facts['failed'])}), "
                  f"page width {facts['scrollWidth']}")
        assert facts["broken"] == [] and facts["remote"] == [] and facts["failed"] == []
        assert len(facts["videos"]) == 3 and all(v["readyState"] >= 1 for v in facts["videos"])
        assert facts["scrollWidth"] <= facts["width"] and facts["sliders"] == 3
        assert os.path.getsize(facts["screenshot"]) > 10_000
