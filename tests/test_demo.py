"""`cfgan demo --quick` on the bundled models: the newcomer's first command must produce every section."""
import json
import os
import re

import pytest
from click.testing import CliRunner

from cfgan.cli import main

pytestmark = pytest.mark.slow  # about a minute on 2 CPU cores


def test_quick_demo_writes_every_section_and_only_monotone_paths(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--quick", "--out", str(out), "--device", "cpu"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "index.html" in result.output
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
    # every image the index links exists
    index = (out / "index.html").read_text()
    linked = re.findall(r"src='([^']+)'", index)
    assert len(linked) >= 1 + 1 + 3 * 3 + 1
    for rel in linked:
        assert os.path.isfile(out / rel), rel
