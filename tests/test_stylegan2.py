"""StyleGAN2Generator: parity with the official generator and the behaviour inversion relies on."""
import functools
import json
import math
import os

import pytest
import torch

from generators import Generator, StyleGAN2Generator

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "official_tiny.pt")
#: allowed error relative to the compared magnitude (see ``error``): float32 rounding moves these outputs by
#: ~1e-6 of their scale
TOL = 1e-4


def error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual - expected| / max(1, max |expected|): relative to the magnitude compared (the fixture
    images reach |x| ~ 16), absolute below 1."""
    assert actual.shape == expected.shape
    return float((actual - expected).detach().abs().max()) / max(1.0, float(expected.detach().abs().max()))


def tiny_generator(architecture="skip", resolution=16, channels=3, c_dim=0, seed=0, **synthesis):
    """A small generator whose biases, noise strengths and w_avg are all non-zero."""
    torch.manual_seed(seed)
    G = StyleGAN2Generator(z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=resolution, img_channels=channels,
                           mapping_kwargs=dict(num_layers=2),
                           synthesis_kwargs=dict(channel_base=8 * resolution, channel_max=8,
                                                 architecture=architecture, **synthesis))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, t in G.state_dict().items():
            if not name.endswith("resample_filter"):
                t.add_(0.3 * torch.randn(t.shape, generator=g))
    return G


# -- parity with the official implementation ---------------------------------------------------------
@functools.lru_cache(maxsize=1)
def fixture_cases():
    return torch.load(FIXTURE, weights_only=True)["cases"]


@pytest.mark.parametrize("name", ["skip_uncond_rgb32", "resnet_cond10_gray16", "orig_uncond_rgb16"])
def test_matches_official_generator(name):
    case = fixture_cases()[name]
    G = StyleGAN2Generator(**case["config"])
    G.load_state_dict(case["state_dict"], strict=True)
    assert list(G.state_dict()) == list(case["state_dict"])
    with torch.no_grad():
        ws = G.mapping(case["z"], case["c"])
        ws_trunc = G.mapping(case["z"], case["c"], truncation_psi=case["truncation_psi"],
                             truncation_cutoff=case["truncation_cutoff"])
        errors = dict(
            ws=error(ws, case["ws"]),
            ws_trunc=error(ws_trunc, case["ws_trunc"]),
            img_const=error(G.synthesis(case["ws"], noise_mode="const"), case["img_const"]),
            img_trunc=error(G.synthesis(case["ws_trunc"], noise_mode="const"), case["img_trunc"]),
            img_none=error(G.synthesis(case["ws"], noise_mode="none"), case["img_none"]),
            img_fused=error(G.synthesis(case["ws"], noise_mode="const", fused_modconv=True), case["img_const"]),
        )
    assert case["img_const"].abs().max() > 0.1  # the reference output is not degenerate
    assert all(e < TOL for e in errors.values()), errors


def test_config_rebuilds_the_same_json_serialisable_network():
    case = fixture_cases()["resnet_cond10_gray16"]
    G = StyleGAN2Generator(**case["config"])
    config = json.loads(json.dumps(G.config))
    assert config == G.config
    H = StyleGAN2Generator(**config)
    assert H.config == G.config
    assert {k: v.shape for k, v in H.state_dict().items()} == {k: v.shape for k, v in G.state_dict().items()}


def test_unknown_hyper_parameter_is_named():
    with pytest.raises(TypeError, match="channel_bse"):
        StyleGAN2Generator(8, 0, 8, 16, 3, synthesis_kwargs=dict(channel_bse=64))
    with pytest.raises(ValueError, match="img_resolution"):
        StyleGAN2Generator(8, 0, 8, 24, 3)


# -- shapes --------------------------------------------------------------------------------------
@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
@pytest.mark.parametrize("resolution,channels", [(16, 1), (32, 3)])
def test_output_shapes(architecture, resolution, channels):
    G = tiny_generator(architecture, resolution, channels)
    assert isinstance(G, Generator)
    assert G.num_ws == 2 * int(math.log2(resolution)) - 2
    assert (G.resolution, G.channels, G.spaces) == (resolution, channels, ("z", "w", "w+"))
    z = G.sample_z(2, seed=0)
    ws = G.mapping(z)
    assert ws.shape == (2, G.num_ws, G.w_dim)
    img = G.synthesis(ws)
    assert img.shape == (2, channels, resolution, resolution) and img.dtype == torch.float32
    assert torch.isfinite(img).all()
    # One W for every layer is the same as the repeated W+.
    assert torch.equal(G.synthesis(ws[:, 0]), G.synthesis(ws[:, :1].repeat(1, G.num_ws, 1)))


def test_bad_latent_shapes_are_rejected():
    G = tiny_generator()
    with pytest.raises(ValueError, match="z must"):
        G.mapping(torch.randn(2, 9))
    with pytest.raises(ValueError, match="ws must"):
        G.synthesis(torch.randn(2, G.num_ws + 1, G.w_dim))


# -- truncation and w_avg ----------------------------------------------------------------------------
def test_truncation_pulls_layers_below_cutoff_to_w_avg():
    G = tiny_generator()
    z = G.sample_z(3, seed=1)
    plain = G.mapping(z)
    cut = 3
    ws = G.mapping(z, truncation_psi=0.0, truncation_cutoff=cut)
    assert torch.allclose(ws[:, :cut], G.w_avg.expand(3, cut, -1), atol=1e-6)
    assert torch.equal(ws[:, cut:], plain[:, cut:])
    half = G.mapping(z, truncation_psi=0.5)  # no cutoff: every layer
    assert torch.allclose(half, G.w_avg + 0.5 * (plain - G.w_avg), atol=1e-6)


def test_w_avg_is_tracked_only_in_training_mode():
    G = tiny_generator()
    before = G.w_avg.clone()
    G.mapping(G.sample_z(4))
    assert torch.equal(G.w_avg, before)
    G.train()
    G.mapping(G.sample_z(4), update_w_avg=False)
    assert torch.equal(G.w_avg, before)
    ws = G.mapping(G.sample_z(4))
    assert torch.allclose(G.w_avg, ws[:, 0].mean(0).lerp(before, 0.995), atol=1e-6)


# -- noise ------------------------------------------------------------------------------------------
def test_noise_modes():
    G = tiny_generator()
    ws = G.mapping(G.sample_z(2))
    const = G.synthesis(ws, noise_mode="const")
    assert torch.equal(const, G.synthesis(ws, noise_mode="const"))
    none = G.synthesis(ws, noise_mode="none")
    assert torch.equal(none, G.synthesis(ws, noise_mode="none"))
    assert (none - const).abs().max() > 1e-3
    torch.manual_seed(1)
    random1 = G.synthesis(ws, noise_mode="random")
    random2 = G.synthesis(ws, noise_mode="random")
    assert (random1 - random2).abs().max() > 1e-3
    torch.manual_seed(1)
    assert torch.equal(random1, G.synthesis(ws, noise_mode="random"))
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(ws, noise_mode="fixed")


def test_noise_override_replaces_the_stored_maps():
    G = tiny_generator("resnet")
    ws = G.mapping(G.sample_z(2))
    shapes = G.noise_shapes()
    assert shapes == [(1, 1, r, r) for r in (4, 8, 8, 16, 16)]
    stored = [conv.noise_const.reshape(1, 1, *conv.noise_const.shape)
              for conv in G.synthesis_network.noise_layers()]
    assert error(G.synthesis(ws, noise=stored), G.synthesis(ws)) < 1e-6
    zeros = [torch.zeros(s) for s in shapes]
    assert error(G.synthesis(ws, noise=zeros), G.synthesis(ws, noise_mode="none")) < 1e-6
    # Per-sample maps [N, 1, H, W]: changing sample 1's maps leaves sample 0 alone.
    per_sample = [torch.cat([s, torch.randn_like(s)]) for s in stored]
    out = G.synthesis(ws, noise=per_sample)
    base = G.synthesis(ws)
    assert error(out[0], base[0]) < 1e-6
    assert (out[1] - base[1]).abs().max() > 1e-3
    with pytest.raises(ValueError, match=r"noise\[1\]"):
        G.synthesis(ws, noise=[zeros[0], zeros[0], *zeros[2:]])
    with pytest.raises(ValueError, match="5 maps"):
        G.synthesis(ws, noise=zeros[:2])


def test_gradients_reach_noise_maps_and_ws():
    G = tiny_generator("skip").requires_grad_(False)
    ws = G.mapping(G.sample_z(2)).detach().requires_grad_(True)
    noise = [torch.randn(s).requires_grad_(True) for s in G.noise_shapes()]
    G.synthesis(ws, noise=noise).square().mean().backward()
    assert ws.grad is not None and ws.grad.abs().sum() > 0
    assert all(n.grad is not None and n.grad.abs().sum() > 0 for n in noise)


# -- sampling and conditioning -------------------------------------------------------------------
def test_sample_is_deterministic_per_seed():
    G = tiny_generator()
    assert torch.equal(G.sample(2, seed=3), G.sample(2, seed=3))
    assert (G.sample(2, seed=3) - G.sample(2, seed=4)).abs().max() > 1e-3


def test_conditional_generator_needs_a_valid_class():
    G = tiny_generator(c_dim=10, resolution=16, channels=1)
    z = G.sample_z(2)
    with pytest.raises(ValueError, match="conditional"):
        G.mapping(z)
    with pytest.raises(ValueError, match="out of range"):
        G.one_hot([3, 10])
    with pytest.raises(ValueError, match="c must"):
        G.mapping(z, torch.zeros(2, 9))
    img3 = G.sample(2, seed=0, c=[3, 3])
    assert img3.shape == (2, 1, 16, 16)
    assert (img3 - G.sample(2, seed=0, c=[4, 4])).abs().max() > 1e-3
    with pytest.raises(ValueError, match="unconditional"):
        tiny_generator().mapping(z, torch.ones(2, 10))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_official_in_fp32_and_stays_close_in_fp16(monkeypatch):
    """On CUDA the fp16 blocks (num_fp16_res=2 here) switch on unless force_fp32."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # TF32 alone would move images by ~1e-3
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    case = fixture_cases()["skip_uncond_rgb32"]
    G = StyleGAN2Generator(**case["config"])
    G.load_state_dict(case["state_dict"])
    G.cuda()
    ws = case["ws"].cuda()
    with torch.no_grad():
        fp32 = G.synthesis(ws, force_fp32=True).cpu()
        fp16 = G.synthesis(ws).cpu()
    assert error(fp32, case["img_const"]) < TOL
    assert fp16.dtype == torch.float32 and torch.isfinite(fp16).all()
    assert error(fp16, case["img_const"]) < 0.008  # 0.05 at this fixture's scale of ~6


@pytest.mark.parametrize("batch", [1, 3])
def test_fused_and_split_modulated_convolutions_agree(batch):
    """CPU renders use the split form by default (faster); the official fused form must give the same images."""
    torch.manual_seed(0)
    G = StyleGAN2Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                           mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=256, channel_max=32))
    ws = G.mapping(torch.randn(batch, 16), None)
    default = G.synthesis(ws)
    fused = G.synthesis(ws, fused_modconv=True)
    split = G.synthesis(ws, fused_modconv=False)
    torch.testing.assert_close(default, split, atol=0, rtol=0)
    assert error(fused, split) < 1e-5
