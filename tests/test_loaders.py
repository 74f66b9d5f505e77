"""generators.loaders: every checkpoint format people have, loaded safely and reproducing its source code.

Fixtures (tests/fixtures) were written by the official / rosinality code itself
(scripts/make_pickle_fixture.py, scripts/make_rosinality_fixture.py) with the ws/images that code computes.
"""
from __future__ import annotations

import argparse
import builtins
import hashlib
import json
import os
import pickle
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from generators import CheckpointError, StyleGAN2Generator, load, save
from generators.loaders import ModuleGenerator, export_rosinality, file_sha256, load_official_pickle, zoo
from generators.loaders.rosinality import rosinality_state

FIXTURES = Path(__file__).parent / "fixtures"
ADA_PKL = FIXTURES / "official_tiny_snapshot.pkl"
SG3REPO_PKL = FIXTURES / "official_tiny_snapshot_sg3repo.pkl"
STYLEGAN3_PKL = FIXTURES / "official_tiny_snapshot_stylegan3.pkl"
ROSINALITY_PT = FIXTURES / "rosinality_tiny.pt"
#: allowed error relative to the compared magnitude (see ``close``): float32 rounding through these networks
#: moves outputs by ~1e-6 of their scale, a wrong layer by far more than 1e-4 of it.
TOL = 1e-4


def expected(path: Path) -> dict:
    return torch.load(path.with_name(path.stem + "_expected.pt"), weights_only=True)


def close(actual: torch.Tensor, expected: torch.Tensor, tol: float = TOL) -> bool:
    """Same shape and max |actual - expected| <= tol * max(1, max |expected|).

    Relative to the magnitude compared (the stylegan3-repo fixture's random-weight images reach |x| ~ 370,
    where float rounding alone differs by ~1e-4 between CPUs), absolute for magnitudes below 1.
    """
    scale = max(1.0, float(expected.abs().max())) if expected.numel() else 1.0
    return actual.shape == expected.shape and float((actual - expected).abs().max()) <= tol * scale


def tiny_stylegan2(**overrides) -> StyleGAN2Generator:
    torch.manual_seed(0)
    kwargs = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                  mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=128, channel_max=16))
    kwargs.update(overrides)
    G = StyleGAN2Generator(**kwargs)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(0.2 * torch.randn_like(p))
        G.mapping_network.w_avg.normal_()
    return G


# -- official pickles --------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [ADA_PKL, SG3REPO_PKL], ids=["stylegan2-ada", "stylegan3-repo-sg2"])
@pytest.mark.parametrize("which", ["G_ema", "G"])
def test_official_pickle_reproduces_official_outputs(path, which):
    ref = expected(path)
    G = load(path, which=which)
    z = ref[f"{which}.z"]
    c = ref[f"{which}.c"] if G.c_dim else None
    with torch.no_grad():
        ws = G.mapping(z, c)
        assert close(ws, ref[f"{which}.ws"])
        assert close(G.mapping(z, c, truncation_psi=ref["psi"]), ref[f"{which}.ws_psi"])
        # both forms of the modulated convolution: the official fused one and the CPU default (split)
        for fused in (True, None):
            for mode in ("const", "none"):
                assert close(G.synthesis(ws, noise_mode=mode, fused_modconv=fused), ref[f"{which}.img_{mode}"])
    assert close(G.w_avg, ref[f"{which}.w_avg"])


def test_official_pickle_which_picks_a_different_network():
    ref = expected(ADA_PKL)
    assert not close(ref["G.img_const"], ref["G_ema.img_const"], tol=0.1)
    G = load(ADA_PKL, which="G")
    with torch.no_grad():
        assert close(G.synthesis(G.mapping(ref["G.z"]), noise_mode="const"), ref["G.img_const"])


def test_stylegan3_repo_default_clamp_is_made_explicit():
    """That repo's StyleGAN2 clamps at 256 without saying so in its kwargs; ignoring it changes images."""
    G = load(SG3REPO_PKL)
    assert G.config["synthesis_kwargs"]["conv_clamp"] == 256
    assert G.c_dim == 2
    ref = expected(SG3REPO_PKL)
    config = json.loads(json.dumps(G.config))
    config["synthesis_kwargs"]["conv_clamp"] = None
    unclamped = StyleGAN2Generator(**config)
    unclamped.load_state_dict(G.state_dict())
    with torch.no_grad():
        img = unclamped.synthesis(ref["G_ema.ws"], noise_mode="const")
    assert not close(img, ref["G_ema.img_const"], tol=0.1)


def test_stylegan3_generator_is_refused_clearly():
    with pytest.raises(CheckpointError, match="StyleGAN3 is not supported") as info:
        load(STYLEGAN3_PKL)
    assert str(STYLEGAN3_PKL) in str(info.value)


def test_official_pickle_without_the_requested_network():
    with pytest.raises(CheckpointError, match=r"no network 'G'.*G_ema"):
        load(STYLEGAN3_PKL, which="G")


# -- pickles that would run code -----------------------------------------------------------------------
class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(target: Path):
    return {
        "os.system": (os.system, (f"touch {target}",)),
        "builtins.exec": (builtins.exec, (f"open({str(target)!r}, 'w').close()",)),
        "builtins.open": (builtins.open, (str(target), "w")),
        "subprocess.call": (subprocess.call, (["touch", str(target)],)),
    }


@pytest.mark.parametrize("name", ["os.system", "builtins.exec", "builtins.open", "subprocess.call"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, name):
    target = tmp_path / "pwned"
    func, args = _payloads(target)[name]
    evil = tmp_path / "snapshot.pkl"
    with open(evil, "wb") as f:  # hidden inside an otherwise plausible snapshot
        pickle.dump({"training_set_kwargs": {}, "G_ema": _Reduce(func, args)}, f)
    with pytest.raises(CheckpointError, match="refusing to load") as info:
        load(evil)
    message = str(info.value)
    assert str(evil) in message and func.__name__ in message
    assert not target.exists()


def test_malicious_torch_file_is_refused_and_never_runs(tmp_path):
    target = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"g_ema": _Reduce(os.system, (f"touch {target}",))}, evil)
    with pytest.raises(CheckpointError, match="refusing to load") as info:
        load(evil)
    assert str(evil) in str(info.value)
    assert not target.exists()


def test_embedded_network_source_is_never_executed(tmp_path, monkeypatch):
    """A real snapshot whose pickled module source would create a file if exec'd still loads, file-free."""
    header = b"# Copyright (c) 2021, NVIDIA CORPORATION.  All rights reserved."
    payload = b"import os;open(os.environ['CFGAN_TEST_PWN'],'w').close()"
    payload = payload + b"#" * (len(header) - len(payload))
    assert len(payload) == len(header)
    data = ADA_PKL.read_bytes()
    assert header in data
    patched = tmp_path / "patched.pkl"
    patched.write_bytes(data.replace(header, payload))  # same byte length: still a valid pickle

    proof = tmp_path / "proof"  # the payload is live: executing it does create the file
    monkeypatch.setenv("CFGAN_TEST_PWN", str(proof))
    exec(compile(payload.decode(), "payload", "exec"), {})
    assert proof.exists()

    target = tmp_path / "pwned"
    monkeypatch.setenv("CFGAN_TEST_PWN", str(target))
    G = load(patched)
    ref = expected(ADA_PKL)
    with torch.no_grad():
        assert close(G(ref["G_ema.z"]), ref["G_ema.img_const"])
    assert not target.exists()


def test_plain_pickled_torch_module_is_refused(tmp_path):
    path = tmp_path / "module.pkl"
    with open(path, "wb") as f:
        pickle.dump({"G_ema": nn.Linear(2, 2)}, f)
    with pytest.raises(CheckpointError, match=r"torch\.nn\.modules\.linear\.Linear"):
        load(path)


def test_tensorflow_pickle_gets_a_conversion_hint(tmp_path, monkeypatch):
    fake = types.ModuleType("dnnlib.tflib.network")

    class Network:
        pass

    Network.__module__, Network.__qualname__ = "dnnlib.tflib.network", "Network"
    fake.Network = Network
    for name in ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network"):
        monkeypatch.setitem(sys.modules, name, fake)
    path = tmp_path / "stylegan2-ffhq-config-f.pkl"
    with open(path, "wb") as f:
        pickle.dump((Network(), Network(), Network()), f)
    with pytest.raises(CheckpointError, match="TensorFlow-era"):
        load(path)


# -- rosinality --------------------------------------------------------------------------------------------
def test_rosinality_checkpoint_reproduces_rosinality_outputs():
    ref = expected(ROSINALITY_PT)
    G = load(ROSINALITY_PT)
    assert (G.resolution, G.channels, G.z_dim, G.num_ws) == (32, 3, 16, 8)
    assert G.config["mapping_kwargs"]["num_layers"] == 3
    with torch.no_grad():
        ws = G.mapping(ref["z"])
        ws_psi = G.mapping(ref["z"], truncation_psi=ref["psi"])
        assert close(ws, ref["ws"])
        assert close(ws_psi, ref["ws_psi"])
        assert close(G.synthesis(ws, noise_mode="const"), ref["img_const"])
        assert close(G.synthesis(ws, noise_mode="none"), ref["img_none"])
        assert close(G.synthesis(ws_psi, noise_mode="const"), ref["img_psi"])


def test_rosinality_training_checkpoint_estimates_w_avg(tmp_path):
    converted = torch.load(ROSINALITY_PT, weights_only=True)
    g = {k: v if k.endswith("kernel") else v + 0.01 for k, v in converted["g_ema"].items()}
    path = tmp_path / "010000.pt"
    torch.save({"g": g, "d": {}, "g_ema": converted["g_ema"], "g_optim": {}, "d_optim": {},
                "args": argparse.Namespace(size=32, n_mlp=3, latent=16, channel_multiplier=2),
                "ada_aug_p": 0.0}, path)
    G = load(path)
    assert G.meta["w_avg"].startswith("estimated")
    # latent_avg of the fixture is the mean of 4096 mapped z; the estimate uses 10k others (per-dim std ~1.7),
    # so the two differ by sampling error: a statistical, absolute bound
    assert float((G.w_avg - converted["latent_avg"]).abs().max()) <= 0.2
    assert float(G.w_avg.abs().max()) > 0.3
    G_raw = load(path, which="G")
    assert torch.equal(G_raw.state_dict()["synthesis.b4.const"], g["input.input"][0])


def test_export_rosinality_round_trips_the_layout_exactly(tmp_path):
    converted = torch.load(ROSINALITY_PT, weights_only=True)
    G = load(ROSINALITY_PT)
    out = tmp_path / "export.pt"
    with pytest.warns(UserWarning, match="stock Generator"):  # the tiny channel table is not rosinality's
        export_rosinality(G, out)
    exported = torch.load(out, weights_only=True)
    assert set(exported["g_ema"]) == set(converted["g_ema"])
    for key, value in converted["g_ema"].items():
        assert close(exported["g_ema"][key], value, tol=1e-7), key  # the style weights reach |x| ~ 400
    assert torch.equal(exported["latent_avg"], converted["latent_avg"])


def test_export_rosinality_keeps_outputs_for_other_lr_multipliers(tmp_path):
    G = tiny_stylegan2(mapping_kwargs=dict(num_layers=2, lr_multiplier=0.05))
    out = tmp_path / "export.pt"
    with pytest.warns(UserWarning):
        export_rosinality(G, out)
    G2 = load(out)
    z = G.sample_z(3, seed=1)
    with torch.no_grad():
        assert close(G2(z, truncation_psi=0.5), G(z, truncation_psi=0.5), tol=1e-5)


@pytest.mark.parametrize("overrides, problem", [
    (dict(c_dim=3), "class-conditional"),
    (dict(synthesis_kwargs=dict(channel_base=128, channel_max=16, architecture="resnet")), "architecture"),
    (dict(z_dim=4), "w_dim wide"),
])
def test_export_rosinality_refuses_what_the_layout_cannot_hold(tmp_path, overrides, problem):
    with pytest.raises(ValueError, match=problem):
        export_rosinality(tiny_stylegan2(**overrides), tmp_path / "x.pt")


def test_rosinality_nonstandard_blur_kernel_is_refused(tmp_path):
    converted = torch.load(ROSINALITY_PT, weights_only=True)
    converted["g_ema"]["convs.0.conv.blur.kernel"] = torch.ones(4, 4) / 4
    path = tmp_path / "blur.pt"
    torch.save(converted, path)
    with pytest.raises(CheckpointError, match="blur kernel"):
        load(path)


# -- cfgan's own format --------------------------------------------------------------------------------------
def test_native_save_load_round_trip(tmp_path):
    G = load(ADA_PKL)
    path = tmp_path / "g.pt"
    digest = save(G, path, meta={"source": "official_tiny_snapshot.pkl", "licence": "test"})
    assert digest == file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    raw = torch.load(path, weights_only=True)
    assert (raw["format"], raw["version"], raw["arch"]) == ("cfgan.generator", 1, "stylegan2")
    G2 = load(path)
    assert G2.config == G.config and G2.meta["licence"] == "test"
    for key, value in G.state_dict().items():
        assert torch.equal(G2.state_dict()[key], value), key
    ref = expected(ADA_PKL)
    with torch.no_grad():
        assert close(G2(ref["G_ema.z"]), ref["G_ema.img_const"])


def test_provenance_travels_from_source_to_saved_file(tmp_path):
    G = load(ADA_PKL, which="G")
    assert G.meta["source_format"] == "official-pickle" and G.meta["which"] == "G"
    assert G.meta["training_set_kwargs"]["resolution"] == 32
    save(G, tmp_path / "g.pt")
    assert load(tmp_path / "g.pt").meta == G.meta


def test_native_legacy_torch_serialisation_also_loads(tmp_path):
    G = tiny_stylegan2()
    path = tmp_path / "legacy.pt"
    from generators.loaders.native import checkpoint_dict
    torch.save(checkpoint_dict(G), path, _use_new_zipfile_serialization=False)
    z = G.sample_z(2)
    with torch.no_grad():
        assert close(load(path)(z), G(z), tol=0)


def test_native_rejects_newer_versions_and_bad_meta(tmp_path):
    G = tiny_stylegan2()
    path = tmp_path / "g.pt"
    save(G, path)
    data = torch.load(path, weights_only=True)
    data["version"] = 99
    torch.save(data, path)
    with pytest.raises(CheckpointError, match="newer cfgan"):
        load(path)
    with pytest.raises(ValueError, match="JSON"):
        save(G, path, meta={"bad": object()})


# -- plain z -> image modules ------------------------------------------------------------------------------
class TinyDCGAN(nn.Module):
    """DCGAN-style: z as [N, nz, 1, 1], transposed convolutions with batch norm, tanh output."""

    def __init__(self, nz=12, ngf=8, nc=3):
        super().__init__()
        self.nz = nz
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, x):
        return self.main(x)


class TinyMLPGenerator(nn.Module):
    """z as [N, z]; sigmoid output in (0, 1); states its latent size nowhere."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 2 * 8 * 8)

    def forward(self, z):
        return torch.sigmoid(self.fc(z)).view(-1, 2, 8, 8)


def test_module_generator_wraps_a_dcgan():
    torch.manual_seed(0)
    net = TinyDCGAN()
    G = ModuleGenerator(net)
    assert (G.z_dim, G.resolution, G.channels, tuple(G.spaces)) == (12, 16, 3, ("z",))
    assert not net.training  # batch norm uses its running statistics
    z = G.sample_z(3, seed=4)
    with torch.no_grad():
        assert torch.equal(G(z), net(z[:, :, None, None]))
        assert torch.equal(G.sample(3, seed=4), G(z))
    with pytest.raises(NotImplementedError, match="only has the Z space"):
        G.mapping(z)
    with pytest.raises(ValueError, match=r"\[N, 12\]"):
        G(torch.zeros(2, 5))


def test_module_generator_probes_z_dim_and_rescales_unit_range():
    torch.manual_seed(0)
    net = TinyMLPGenerator()
    G = ModuleGenerator(net, output_range=(0, 1))
    assert (G.z_dim, G.resolution, G.channels) == (10, 8, 2)
    z = G.sample_z(4)
    with torch.no_grad():
        img = G(z)
        assert torch.allclose(img, net(z) * 2 - 1)
    assert img.min() >= -1 and img.max() <= 1


def test_module_spec_accepts_instance_class_and_factory(tmp_path, monkeypatch):
    (tmp_path / "my_tiny_gans.py").write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    z_dim = 6\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        torch.manual_seed(0)\n"
        "        self.fc = nn.Linear(6, 3 * 4 * 4)\n"
        "    def forward(self, z):\n"
        "        return torch.tanh(self.fc(z)).view(-1, 3, 4, 4)\n\n"
        "instance = Net()\n\n"
        "def make():\n"
        "    return Net()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_tiny_gans", raising=False)
    z = torch.randn(2, 6)
    outputs = []
    for attr in ("instance", "Net", "make"):
        G = load(f"my_tiny_gans:{attr}")
        assert (G.z_dim, G.resolution, G.channels) == (6, 4, 3)
        with torch.no_grad():
            outputs.append(G(z))
    assert torch.equal(outputs[0], outputs[1]) and torch.equal(outputs[0], outputs[2])
    with pytest.raises(CheckpointError, match="no attribute"):
        load("my_tiny_gans:missing")


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit's deprecation notice
def test_torchscript_file_loads(tmp_path):
    torch.manual_seed(0)
    net = TinyDCGAN().eval()
    path = tmp_path / "dcgan.ts"
    torch.jit.save(torch.jit.script(net), str(path))
    G = load(path)
    assert (G.z_dim, G.resolution, G.channels) == (12, 16, 3)
    z = G.sample_z(2)
    with torch.no_grad():
        assert close(G(z), net(z[:, :, None, None]), tol=1e-6)


def test_pretrained_dcgan_from_gan_face_generate():
    package = pytest.importorskip("gan_face_generate")
    from gan_face_generate.models import Generator as FaceDCGAN

    weights = Path(package.__file__).parent / "weights.tar"
    net = FaceDCGAN(ngpu=0, nc=3, nz=100, ngf=64)
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True)["netG_state_dict"])
    G = ModuleGenerator(net, name="gan_face_generate")
    assert (G.z_dim, G.resolution, G.channels) == (100, 64, 3)
    images = G.sample(2, seed=0)
    assert torch.equal(images, G.sample(2, seed=0))
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0.1
    # its weights file alone is a bare state dict: a clear error, not a guess
    with pytest.raises(CheckpointError, match=r"holding keys \[netG_state_dict\].*package\.module:attr"):
        load(weights)


# -- dispatch and errors ---------------------------------------------------------------------------------
def test_load_returns_an_eval_frozen_generator():
    G = load(ROSINALITY_PT, device="cpu")
    assert not G.training
    assert not any(p.requires_grad for p in G.parameters())


def test_missing_file_is_a_clear_file_not_found(tmp_path):
    missing = tmp_path / "nope.pkl"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load(missing)


@pytest.mark.parametrize("content, problem", [
    (b"", "is empty"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "unrecognised file format"),
    (b"hello, I am a text file\n", "unrecognised file format"),
])
def test_foreign_files_are_named_and_explained(tmp_path, content, problem):
    path = tmp_path / "weird.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=problem) as info:
        load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("source", [ADA_PKL, ROSINALITY_PT], ids=["pickle", "torch-zip"])
def test_truncated_files_are_reported_as_such(tmp_path, source):
    data = source.read_bytes()
    path = tmp_path / ("cut" + source.suffix)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
        load(path)
    assert str(path) in str(info.value)


def test_other_torch_files_are_not_generators(tmp_path):
    path = tmp_path / "classifier.pt"
    torch.save({"model": torch.zeros(2), "epoch": 3}, path)
    with pytest.raises(CheckpointError, match=r"not a generator checkpoint: a torch file holding keys "
                                              r"\[epoch, model"):
        load(path)
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="holding a Tensor"):
        load(path)


def test_which_is_validated(tmp_path):
    with pytest.raises(ValueError, match="which"):
        load(ADA_PKL, which="D")
    path = tmp_path / "g.pt"
    save(tiny_stylegan2(), path)
    with pytest.raises(CheckpointError, match="single generator"):
        load(path, which="G")


def test_zoo_models_are_checksum_verified(tmp_path, monkeypatch):
    monkeypatch.setattr(zoo.GENERATORS, "folder", tmp_path)
    with pytest.raises(CheckpointError, match="unknown zoo generator 'tiny', available: none installed"):
        load("zoo:tiny")
    G = tiny_stylegan2()
    digest = save(G, tmp_path / "tiny.pt")
    (tmp_path / "tiny.json").write_text(json.dumps({"sha256": digest}))
    z = G.sample_z(2)
    with torch.no_grad():
        assert close(load("zoo:tiny")(z), G(z), tol=0)
    with pytest.raises(CheckpointError, match="available: zoo:tiny"):
        load("zoo:../tiny")
    data = bytearray((tmp_path / "tiny.pt").read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / "tiny.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load("zoo:tiny")


def test_official_pickle_loader_is_usable_directly():
    G = load_official_pickle(str(ADA_PKL))
    assert isinstance(G, StyleGAN2Generator) and G.resolution == 32 and G.channels == 1


def test_rosinality_state_is_exposed_for_custom_writers():
    with pytest.warns(UserWarning, match="stock Generator"):
        state, latent_avg = rosinality_state(load(ROSINALITY_PT))
    assert state["input.input"].shape[0] == 1 and latent_avg.shape == (16,)
