"""StyleGAN2 training (generators.stylegan2.training) and its command line: tiny configs on CPU, in seconds."""
import json
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from generators import load
from generators.stylegan2 import StyleGAN2Generator, training
from generators.stylegan2.discriminator import Discriminator, minibatch_stddev

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "train_stylegan2.py"
TINY = dict(z_dim=16, w_dim=16, map_layers=1, channel_base=128, channel_max=16, batch=4, mbstd_group=2,
            r1_interval=2, log_every=2, seed=3, threads=1)
TINY_ARGS = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]


@pytest.fixture(scope="module")
def images():
    """24 random 32x32 grayscale images, as the training data."""
    return torch.from_numpy(np.random.default_rng(0).integers(0, 256, (24, 1, 32, 32), dtype=np.uint8))


def _run(outdir, images, steps, **extra):
    chosen = {**TINY, **extra}
    options = training.options_for("cpu", outdir=str(outdir), kimg=steps * 4 / 1000, **chosen)  # batch 4
    explicit = set(chosen) - set(training.RUN_CONTROL)
    return training.run(options, images, explicit=explicit, command="test")


def _checkpoint(outdir):
    return torch.load(Path(outdir) / training.CHECKPOINT_NAME, map_location="cpu", weights_only=True)


def test_discriminator_shape_and_r1_double_backward():
    torch.manual_seed(0)
    D = Discriminator(img_resolution=16, img_channels=1, channel_base=128, channel_max=16,
                      epilogue_kwargs=dict(mbstd_group_size=2))
    img = torch.randn(4, 1, 16, 16)
    assert D(img).shape == (4, 1)
    training.r1_penalty(D, img).sum().backward()
    # The R1 penalty must reach the convolution weights through the second derivative.
    params = dict(D.named_parameters())
    for name in ("b16.fromrgb.weight", "b16.conv0.weight", "b8.conv1.weight", "b4.conv.weight", "b4.fc.weight"):
        assert params[name].grad is not None and params[name].grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match=r"expected images \[N, 1, 16, 16\]"):
        D(torch.randn(4, 3, 16, 16))
    with pytest.raises(ValueError, match="not divisible by the group size"):
        D(torch.randn(3, 1, 16, 16))
    with pytest.raises(ValueError, match="unconditional"):
        Discriminator(c_dim=10, img_resolution=16, img_channels=1)


def test_minibatch_stddev_is_the_spread_within_each_group():
    x = torch.randn(6, 4, 3, 3, dtype=torch.float64)
    y = minibatch_stddev(x, group_size=2, num_channels=2)
    assert y.shape == (6, 6, 3, 3) and torch.equal(y[:, :4], x)
    for i in range(6):  # sample i is grouped with sample (i + 3) mod 6
        pair = x[[i % 3, i % 3 + 3]]
        for f in range(2):
            std = pair[:, 2 * f:2 * f + 2].std(dim=0, unbiased=False)
            torch.testing.assert_close(y[i, 4 + f], (std.square() + 1e-8).sqrt().mean().expand(3, 3))


def test_mix_styles_switches_to_the_second_code_at_one_cut():
    torch.manual_seed(0)
    G, _ = training.build_networks(training.options_for("cpu", **TINY), 32, 1)
    z = torch.randn(3, 16)
    plain = G.mapping(z, None)
    torch.manual_seed(5)
    mixed = training.mix_styles(G, z, probability=1.0)
    changed = (mixed != plain).any(dim=2).any(dim=0)  # per W+ entry
    cut = int(changed.int().argmax())
    assert cut >= 1 and changed[cut:].all() and not changed[:cut].any()
    assert torch.equal(training.mix_styles(G, z, probability=0.0), plain)


def test_resume_matches_an_uninterrupted_run(tmp_path, images):
    full = _run(tmp_path / "full", images, 4)
    _run(tmp_path / "split", images, 2)
    assert _checkpoint(tmp_path / "split")["step"] == 2
    resumed = _run(tmp_path / "split", images, 4, resume=True)
    assert full["steps"] == resumed["steps"] == 4

    a, b = _checkpoint(tmp_path / "full"), _checkpoint(tmp_path / "split")
    assert a["format"] == training.CHECKPOINT_FORMAT and a["version"] == 1
    assert a["step"] == b["step"] == 4 and a["nimg"] == b["nimg"] == 16
    for key in ("G_ema", "G", "D"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), f"{key}.{name} differs after resume"

    run = tmp_path / "split"
    G = load(run / "final.pt")
    meta = torch.load(run / "final.pt", map_location="cpu", weights_only=True)["meta"]
    assert isinstance(G, StyleGAN2Generator) and G.z_dim == 16 and G.resolution == 32
    assert meta["steps"] == 4 and meta["images_seen"] == 16 and meta["command"] == "test" and "torch" in meta
    for name, value in G.state_dict().items():
        assert torch.equal(value, a["G_ema"][name])
    samples = G.sample(2, seed=0)
    assert samples.shape == (2, 1, 32, 32) and torch.isfinite(samples).all()

    provenance = json.loads((run / "provenance.json").read_text())
    assert provenance["steps"] == 4 and provenance["hardware"].startswith("CPU")
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2, 3, 4]  # first step of each session, then every 2
    assert all(np.isfinite(r["loss_G"]) and np.isfinite(r["loss_D"]) for r in logged)
    assert not list(run.glob("*.tmp"))


def test_resume_refuses_changed_hyper_parameters(tmp_path, images):
    _run(tmp_path, images, 1)
    with pytest.raises(training.TrainingSetupError, match=r"lr=0.001 \(checkpoint: 0.0025\)"):
        _run(tmp_path, images, 2, resume=True, lr=0.001)
    with pytest.raises(training.TrainingSetupError, match="does not exist"):
        _run(tmp_path / "empty", images, 2, resume=True)
    with pytest.raises(training.TrainingSetupError, match="divisible by mbstd_group"):
        _run(tmp_path / "bad", images, 2, mbstd_group=3)


def test_sigterm_stops_cleanly_with_a_snapshot(tmp_path, images, monkeypatch):
    original = training.Trainer.train_step

    def step_then_signal(self, real):
        original(self, real)
        if self.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(training.Trainer, "train_step", step_then_signal)
    summary = _run(tmp_path, images, 100)
    assert summary["stop_reason"] == "SIGTERM" and summary["steps"] == 2
    assert _checkpoint(tmp_path)["step"] == 2
    assert (tmp_path / "final.pt").is_file()
    assert signal.getsignal(signal.SIGTERM) is not step_then_signal  # handlers restored


def test_optional_path_length_and_xflip_run(tmp_path, images):
    summary = _run(tmp_path, images, 2, pl_weight=2.0, pl_interval=1, xflip=True)
    assert summary["steps"] == 2
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["pl_penalty"]) for r in logged)


# -- the command line ----------------------------------------------------------------------------------
def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _script(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_script_trains_on_fashion_mnist_files(tmp_path):
    """IDX files as Fashion-MNIST ships them (28x28): the script pads them to 32x32 and writes grids."""
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 256, (8, 28, 28)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte", rng.integers(0, 10, (8,)))
    result = _script("--outdir", "run", "--data", str(tmp_path), "--kimg", "0.004", *TINY_ARGS, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = tmp_path / "run"
    assert (run / "final_samples.png").is_file() and list(run.glob("grid_*kimg.png"))
    meta = torch.load(run / "final.pt", map_location="cpu", weights_only=True)["meta"]
    assert meta["dataset"].startswith("fashion-mnist") and meta["command"].startswith("python scripts/train")
    assert meta["options"]["config"] == "cpu" and meta["options"]["z_dim"] == 16

    result = _script("--outdir", "run2", "--data", str(tmp_path / "nowhere"), *TINY_ARGS, cwd=tmp_path)
    assert result.returncode != 0 and "cannot load the training data" in result.stderr
