"""The CLI as a user drives it: info, generate, invert (files in, files out, clear errors)."""
import json

import pytest
from click.testing import CliRunner

import generators
from cfgan.cli import main
from cfgan.data import load_image, save_image
from inversion import load_latents


@pytest.fixture(scope="module")
def tiny_generator(saved_generator):
    return saved_generator(32)


def test_info_reports_architecture_and_op_path(tiny_generator):
    res = CliRunner().invoke(main, ["info", tiny_generator, "--json"])
    assert res.exit_code == 0, res.output
    facts = json.loads(res.output)
    assert facts["resolution"] == 16 and facts["num_ws"] == 6 and facts["spaces"] == ["z", "w", "w+"]
    assert facts["ops"]["upfirdn2d"] in ("ref", "cuda") and facts["ops"]["reason"]
    assert facts["source"]["sha256"]


def test_generate_writes_grid_and_per_seed_images_matching_sample(tiny_generator, tmp_path):
    outdir = tmp_path / "imgs"
    res = CliRunner().invoke(main, ["generate", "-g", tiny_generator, "--seeds", "3-5", "--out", str(outdir)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in outdir.glob("*.png")) == [
        "grid.png", "seed00003.png", "seed00004.png", "seed00005.png"]
    G = generators.load(tiny_generator)
    expected = G.sample(1, seed=4)[0].clamp(-1, 1)
    got = load_image(outdir / "seed00004.png")
    assert (got - expected).abs().max() <= 2 / 255 + 1e-6


def test_generate_errors_are_clear(tiny_generator, tmp_path):
    res = CliRunner().invoke(main, ["generate", "-g", str(tmp_path / "missing.pt")])
    assert res.exit_code != 0 and "missing.pt" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["generate", "-g", tiny_generator, "--seeds", "x"])
    assert res.exit_code != 0 and "'x' is not a seed or a range like 0-15" in res.output


def test_invert_writes_latents_reconstructions_and_metrics(tiny_generator, tmp_path):
    G = generators.load(tiny_generator)
    paths = []
    for i, img in enumerate(G.sample(2, seed=9)):
        paths.append(str(save_image(img.clamp(-1, 1), tmp_path / f"img{i}.png")))
    out = tmp_path / "inv"
    res = CliRunner().invoke(main, ["invert", *paths, "-g", tiny_generator, "--steps", "30", "--loss", "mse=1",
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["images"]) == 2 and metrics["summary"]["psnr"] > 10
    assert (out / "img0" / "recon.png").is_file() and (out / "reconstructions.png").is_file()
    code, payload = load_latents(str(out / "latents.pt"), G)
    assert code.space == "w+" and code.values.shape == (2, G.num_ws, G.w_dim)
    assert payload["extra"]["files"] == paths


def test_invert_malformed_image_is_a_clear_error(tiny_generator, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    res = CliRunner().invoke(main, ["invert", str(bad), "-g", tiny_generator, "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "broken.png is not a readable image" in res.output
    assert "Traceback" not in res.output


def test_invert_converts_wrong_size_with_warning(tiny_generator, tmp_path):
    from PIL import Image

    path = tmp_path / "big_rgb.png"
    Image.new("RGB", (40, 40), (200, 10, 10)).save(path)
    res = CliRunner().invoke(main, ["invert", str(path), "-g", tiny_generator, "--steps", "2",
                                    "--loss", "mse=1", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    warned = [line for line in res.stderr.splitlines() if "big_rgb.png" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: ") and "resized from 40x40 to 16x16" in warned[0]
