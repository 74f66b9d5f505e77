"""Training script and discriminator: a tiny config on synthetic IDX data, on CPU, in seconds."""
import importlib.util
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

from generators.stylegan2 import StyleGAN2Generator
from generators.stylegan2.discriminator import Discriminator

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "train_stylegan2.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("train_stylegan2", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train = _load_script()

TINY = ["--z-dim", "16", "--w-dim", "16", "--map-layers", "1", "--channel-base", "128", "--channel-max", "16",
        "--batch", "4", "--mbstd-group", "2", "--r1-interval", "2", "--log-every", "2", "--seed", "3",
        "--threads", "1"]


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A 24-image stand-in for the Fashion-MNIST train split (28x28, as the real files)."""
    root = tmp_path_factory.mktemp("fmnist")
    rng = np.random.default_rng(0)
    _write_idx(root / "train-images-idx3-ubyte", rng.integers(0, 256, (24, 28, 28)))
    _write_idx(root / "train-labels-idx1-ubyte", rng.integers(0, 10, (24,)))
    return root


def _run(outdir, data_dir, steps, *extra):
    kimg = steps * 4 / 1000  # batch 4
    return train.main(["--outdir", str(outdir), "--data", str(data_dir), "--kimg", str(kimg), *TINY, *extra])


def _load_checkpoint(outdir):
    return torch.load(Path(outdir) / "checkpoint.pt", map_location="cpu", weights_only=True)


def _load_generator(path):
    try:
        from generators import load
    except ImportError:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        assert blob["format"] == "cfgan.generator" and blob["arch"] == "stylegan2"
        G = StyleGAN2Generator(**blob["config"])
        G.load_state_dict(blob["state_dict"])
        return G, blob["meta"]
    G = load(path)
    meta = torch.load(path, map_location="cpu", weights_only=True)["meta"]
    return G, meta


def test_discriminator_shape_and_r1_double_backward():
    torch.manual_seed(0)
    D = Discriminator(img_resolution=16, img_channels=1, channel_base=128, channel_max=16,
                      epilogue_kwargs=dict(mbstd_group_size=2))
    img = torch.randn(4, 1, 16, 16, requires_grad=True)
    logits = D(img)
    assert logits.shape == (4, 1)
    (grad,) = torch.autograd.grad(logits.sum(), img, create_graph=True)
    grad.square().sum().backward()
    # The R1 penalty must reach the convolution weights through the second derivative.
    params = dict(D.named_parameters())
    for name in ("b16.fromrgb.weight", "b16.conv0.weight", "b8.conv1.weight", "b4.conv.weight",
                 "b4.fc.weight"):
        param = params[name]
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match=r"expected images \[N, 1, 16, 16\]"):
        D(torch.randn(4, 3, 16, 16))
    with pytest.raises(ValueError, match="not divisible by the group size"):
        D(torch.randn(3, 1, 16, 16))
    with pytest.raises(ValueError, match="unconditional"):
        Discriminator(c_dim=10, img_resolution=16, img_channels=1)


def test_train_resume_matches_uninterrupted_run(tmp_path, data_dir):
    full = _run(tmp_path / "full", data_dir, 4)
    _run(tmp_path / "split", data_dir, 2)
    assert _load_checkpoint(tmp_path / "split")["step"] == 2
    resumed = _run(tmp_path / "split", data_dir, 4, "--resume")
    assert full["steps"] == resumed["steps"] == 4

    a, b = _load_checkpoint(tmp_path / "full"), _load_checkpoint(tmp_path / "split")
    assert a["step"] == b["step"] == 4 and a["nimg"] == b["nimg"] == 16
    for key in ("G_ema", "G", "D"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), f"{key}.{name} differs after resume"

    G, meta = _load_generator(tmp_path / "split" / "final.pt")
    assert isinstance(G, StyleGAN2Generator) and G.z_dim == 16 and G.resolution == 32
    assert meta["steps"] == 4 and meta["images_seen"] == 16 and "torch" in meta and "command" in meta
    for name, value in G.state_dict().items():
        assert torch.equal(value, a["G_ema"][name])
    images = G.sample(2, seed=0)
    assert images.shape == (2, 1, 32, 32) and torch.isfinite(images).all()

    run = tmp_path / "split"
    assert (run / "final_samples.png").is_file() and list(run.glob("grid_*kimg.png"))
    provenance = json.loads((run / "provenance.json").read_text())
    assert provenance["steps"] == 4 and provenance["hardware"].startswith("CPU")
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2, 3, 4]  # first step of each session, then every 2
    assert all(np.isfinite(r["loss_G"]) and np.isfinite(r["loss_D"]) for r in logged)
    assert not list(run.glob("*.tmp"))


def test_resume_refuses_changed_hyper_parameters(tmp_path, data_dir):
    _run(tmp_path, data_dir, 1)
    with pytest.raises(SystemExit, match=r"--lr 0.001 \(checkpoint: 0.0025\)"):
        _run(tmp_path, data_dir, 2, "--resume", "--lr", "0.001")
    with pytest.raises(SystemExit, match="does not exist"):
        _run(tmp_path / "empty", data_dir, 2, "--resume")


def test_sigterm_stops_cleanly_with_a_snapshot(tmp_path, data_dir, monkeypatch):
    original = train.StyleGAN2Trainer.train_step

    def step_then_signal(self, real):
        original(self, real)
        if self.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(train.StyleGAN2Trainer, "train_step", step_then_signal)
    summary = _run(tmp_path, data_dir, 100)
    assert summary["stop_reason"] == "SIGTERM" and summary["steps"] == 2
    assert _load_checkpoint(tmp_path)["step"] == 2
    assert (tmp_path / "final.pt").is_file()
    assert signal.getsignal(signal.SIGTERM) is not step_then_signal  # handlers restored


def test_optional_path_length_and_xflip_run(tmp_path, data_dir):
    summary = _run(tmp_path, data_dir, 2, "--pl-weight", "2", "--pl-interval", "1", "--xflip")
    assert summary["steps"] == 2
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["pl_penalty"]) for r in logged)


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="cannot load the training data.*not found"):
        train.main(["--outdir", str(tmp_path), "--data", str(tmp_path / "nowhere"), *TINY])


def test_script_runs_without_pythonpath(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--minutes" in result.stdout and "--resume" in result.stdout
