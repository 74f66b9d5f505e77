"""Inversion on a tiny StyleGAN2: recovery, batching, masks, PTI, latent files, bad input."""
import warnings

import pytest
import torch

import generators
from inversion import (
    LatentCode,
    LPIPSDistance,
    MemoryBound,
    Objective,
    PixelMSE,
    Rendered,
    load_latents,
    optimize,
    perceptual,
    pivotal_tuning,
    project,
    psnr,
    save_latents,
)

TINY_G = dict(dim=32, noise_strength=0.2)


def test_recovers_own_samples_in_w_plus(G):
    target = G.sample(4, seed=7)
    res = project(G, target, space="w+", steps=150, losses={"mse": 1.0}, lr=0.05)
    start = LatentCode.mean(G, 4, "w+").render(G)
    gain = torch.tensor(res.metrics["psnr"]) - psnr(start, target)
    assert sum(res.metrics["psnr"]) / 4 > 22 and bool((gain > 5).all()), (res.metrics["psnr"], gain)


def test_noise_optimisation_improves_fit(G):
    target = G.sample(2, seed=3, noise_mode="random")
    plain = project(G, target, space="w+", steps=60, losses={"mse": 1.0}, lr=0.05)
    noisy = project(G, target, space="w+", steps=60, noise=True, losses={"mse": 1.0}, lr=0.05, noise_reg=1e3)
    assert noisy.code.noise is not None and len(noisy.code.noise) == len(G.noise_shapes())
    assert sum(noisy.metrics["psnr"]) > sum(plain.metrics["psnr"])


def test_batch_items_are_independent(G):
    target = G.sample(3, seed=11)
    both = project(G, target, space="w", steps=40, losses={"mse": 1.0}, latent_noise=0.0)
    alone = project(G, target[1:2], space="w", steps=40, losses={"mse": 1.0}, latent_noise=0.0)
    torch.testing.assert_close(both.code.values[1:2], alone.code.values, atol=1e-5, rtol=1e-4)


def test_masked_pixels_do_not_influence_result(G):
    target = G.sample(2, seed=5)
    mask = torch.ones(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 0
    other = target.clone()
    other[..., 4:12, 4:12] = torch.rand(2, 1, 8, 8) * 2 - 1  # scribble on ignored pixels only
    kw = dict(space="w+", steps=30, mask=mask, losses={"mse": 1.0, "msmse": 1.0}, seed=1)
    a, b = project(G, target, **kw), project(G, other, **kw)
    torch.testing.assert_close(a.code.values, b.code.values, atol=0, rtol=0)
    unmasked = project(G, other, space="w+", steps=30, losses={"mse": 1.0, "msmse": 1.0}, seed=1)
    assert not torch.allclose(unmasked.code.values, a.code.values)


def test_best_of_k_init_starts_closer(G):
    target = G.sample(2, seed=21)
    mean = project(G, target, space="w", steps=1, losses={"mse": 1.0}, lr=1e-6, latent_noise=0.0)
    best = project(G, target, space="w", steps=1, losses={"mse": 1.0}, lr=1e-6, latent_noise=0.0,
                   init="best-of-k", k=32)
    assert sum(best.metrics["mse"]) < sum(mean.metrics["mse"])


def test_pti_improves_reconstruction(G):
    target = G.sample(2, seed=99, noise_mode="random") * 0.8
    res = project(G, target, space="w", steps=40, losses={"mse": 1.0})
    tuned = pivotal_tuning(G, res.code, target, steps=60, lr=3e-3, losses={"mse": 1.0}, locality=1.0)
    before = psnr(res.code.render(G), target).mean()
    after = psnr(res.code.render(tuned), target).mean()
    assert after > before + 3, (before, after)
    # the original generator is untouched
    torch.testing.assert_close(res.code.render(G), res.images)


def test_optimize_stop_freezes_finished_items():
    x = torch.tensor([[0.0], [0.0]], requires_grad=True)

    def objective(step, t):
        return ((x - 5.0) ** 2).sum(1), {}

    result = optimize([x], objective, steps=200, lr=0.5, stop=lambda loss, terms: torch.tensor([True, False]))
    assert float(x[0].detach()) == 0.0 and abs(float(x[1].detach()) - 5.0) < 0.1
    assert result.done.tolist() == [True, False]


def test_optimize_keep_best_restores_lowest_loss():
    x = torch.zeros(2, 1, requires_grad=True)
    seen = []

    def objective(step, t):  # a huge learning rate makes Adam overshoot, so the last step is not the best
        loss = ((x - torch.tensor([[1.0], [-3.0]])) ** 2).sum(1)
        seen.append((loss.detach().clone(), x.detach().clone()))
        return loss, {}

    result = optimize([x], objective, steps=6, lr=10.0, keep_best=True)
    losses = torch.stack([s[0] for s in seen[:-1]])  # the last call is the final evaluation
    best = losses.argmin(0)
    for i in range(2):
        assert float(result.loss[i]) == float(losses[best[i], i])
        assert float(x[i]) == float(seen[best[i]][1][i])
    assert float(result.loss.sum()) < float(losses[-1].sum())


def test_optimize_stopped_items_keep_their_stopping_values_under_keep_best():
    """A path or AM item that reached its goal must not be rolled back to an earlier lower-loss iterate."""
    x = torch.full((2, 1), 2.0, requires_grad=True)
    trace = []

    def objective(step, t):  # the loss drifts up with t, so keep_best alone would return step 0's values
        trace.append(x.detach().clone())
        return (x ** 2).sum(1) + 10.0 * t, {"step": torch.full((2,), float(step))}

    def stop(loss, terms):  # item 0 reaches its goal at step 3, item 1 never does
        return (terms["step"] >= 3) & torch.tensor([True, False])

    result = optimize([x], objective, steps=8, lr=0.1, keep_best=True, stop=stop)
    assert result.done.tolist() == [True, False]
    assert float(x[0]) == float(trace[3][0]) < 2.0  # frozen where it stopped, not rolled back
    assert float(x[1]) == 2.0  # restored to its lowest-loss (first) values


def test_lpips_falls_back_with_one_clear_warning(monkeypatch, G):
    monkeypatch.setattr(perceptual, "lpips_available", lambda net="vgg": False)
    monkeypatch.setattr(perceptual, "_warned", set())
    target = G.sample(1, seed=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        term = LPIPSDistance(target, net="vgg")
        LPIPSDistance(target, net="vgg")
    messages = [str(w.message) for w in caught if "LPIPS" in str(w.message)]
    assert len(messages) == 1 and "vgg16-397923af.pth" in messages[0] and "multi-scale" in messages[0]
    value = term(Rendered(target, None, LatentCode.mean(G, 1, "w")))
    assert value.shape == (1,) and float(value) == 0.0


def test_lpips_random_backbone_is_a_distance(G):
    a = G.sample(2, seed=1)
    term = LPIPSDistance(a, random_backbone=True)
    same = term(Rendered(a, None, LatentCode.mean(G, 2, "w")))
    other = term(Rendered(G.sample(2, seed=2), None, LatentCode.mean(G, 2, "w")))
    assert torch.all(same < 1e-6) and torch.all(other > 1e-4)


def test_latent_file_roundtrip_and_generator_check(G, tmp_path):
    code = LatentCode.from_seeds(G, [1, 2], "w+").with_noise(G, seed=0)
    path = save_latents(str(tmp_path / "lat.pt"), code, G, metrics={"psnr": [1.0, 2.0]})
    back, payload = load_latents(path, G)
    torch.testing.assert_close(back.values, code.values)
    assert len(back.noise) == len(code.noise) and payload["metrics"]["psnr"] == [1.0, 2.0]
    other = generators.StyleGAN2Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=1,
                                          mapping_kwargs=dict(num_layers=2),
                                          synthesis_kwargs=dict(channel_base=512, channel_max=32))
    with pytest.raises(ValueError, match="resolution=16"):
        load_latents(path, other)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="bad.pt is not a readable cfgan latent file"):
        load_latents(str(bad))


def test_wrong_image_shape_is_refused_clearly(G):
    with pytest.raises(ValueError, match=r"generator makes \(1, 16, 16\)"):
        project(G, torch.zeros(1, 3, 16, 16), steps=1)


def test_objective_sums_weighted_terms(G):
    target = G.sample(1, seed=4)
    r = Rendered(torch.zeros_like(target), None, LatentCode.mean(G, 1, "w"))
    total, terms = Objective([PixelMSE(target, weight=2.0)])(r)
    torch.testing.assert_close(total, 2.0 * terms["mse"])
    torch.testing.assert_close(terms["mse"], (target ** 2).mean().reshape(1))


# -- memory bound: chunked passes, one Adam step ---------------------------------------------------------------
def _coupled_toy(n=6, d=3):
    """A float64 toy where items are coupled through their parameters (each item's loss reads its
    neighbour's values, like a smoothness term) and the objective follows the chunked protocol."""
    g = torch.Generator().manual_seed(0)
    target = torch.randn(n, d, generator=g, dtype=torch.float64)
    x = torch.zeros(n, d, dtype=torch.float64, requires_grad=True)
    seen_items = []

    def objective(step, t, items=None):
        rows = torch.arange(n) if items is None else items
        seen_items.append(rows.tolist())
        prev = torch.cat([torch.zeros(1, d, dtype=x.dtype), x[:-1]])  # the whole parameter: any chunk reads it
        loss = ((x[rows] - target[rows]) ** 2).sum(1) + 0.5 * ((x[rows] - prev[rows]) ** 2).sum(1) + t
        return loss, {"fit": ((x[rows] - target[rows]) ** 2).sum(1)}

    return x, objective, seen_items


@pytest.mark.parametrize("memory", [1, 2, 4, MemoryBound(max_bytes=64)])
def test_chunked_optimisation_equals_the_single_pass(memory):
    def run(bound):
        x, objective, seen = _coupled_toy()

        def stop(loss, terms):  # per-item stopping sees the assembled terms
            return terms["fit"] < 0.5

        result = optimize([x], objective if bound else (lambda s, t: objective(s, t)), steps=25, lr=0.2,
                          keep_best=True, stop=stop, memory=bound, log_every=5)
        return x.detach(), result, seen

    x1, whole, _ = run(None)
    x2, chunked, seen = run(memory)
    torch.testing.assert_close(x2, x1, atol=1e-12, rtol=0)
    torch.testing.assert_close(chunked.loss, whole.loss, atol=1e-12, rtol=0)
    assert chunked.done.tolist() == whole.done.tolist() and whole.done.any()
    assert [h["loss"] for h in chunked.history] == pytest.approx([h["loss"] for h in whole.history], abs=1e-12)
    assert max(len(c) for c in seen) == chunked.chunk_items and chunked.passes > 1
    if isinstance(memory, int):
        assert chunked.chunk_items <= memory


def test_byte_budget_sizes_chunks_from_what_one_item_keeps():
    x, objective, seen = _coupled_toy(n=8, d=256)
    result = optimize([x], objective, steps=2, lr=0.1, memory=MemoryBound(max_bytes=3 * 256 * 8 * 4))
    per_item = result.saved_bytes_per_item
    assert per_item > 0 and result.chunk_items == max(1, int(3 * 256 * 8 * 4 // per_item))
    big = optimize([x], objective, steps=2, lr=0.1, memory=MemoryBound(max_bytes=10 ** 9))
    assert big.chunk_items == 8 and big.passes == 1  # after the sizing step, one pass holds all 8


def test_groups_are_never_split():
    x, objective, seen = _coupled_toy(n=6)
    optimize([x], objective, steps=2, lr=0.1, memory=4, groups=torch.tensor([0, 0, 0, 1, 1, 2]))
    for rows in seen:
        for group in ([0, 1, 2], [3, 4], [5]):
            assert set(group) <= set(rows) or not set(group) & set(rows), rows
    seen.clear()
    optimize([x], objective, steps=1, lr=0.1, memory=2, groups=3)  # a group larger than the bound: one pass
    assert all(len(rows) == 3 for rows in seen)


def test_memory_bound_needs_an_objective_that_takes_items():
    x = torch.zeros(2, 1, requires_grad=True)
    with pytest.raises(TypeError, match=r"objective\(step, t, items\)"):
        optimize([x], lambda step, t: ((x - 1) ** 2).sum(1), steps=1, memory=1)
    with pytest.raises(ValueError, match="max_items must be an integer >= 1"):
        MemoryBound(max_items=0)


@pytest.mark.parametrize("memory", [1, 2, MemoryBound(max_bytes=150_000)])
def test_chunked_projection_matches_the_single_pass(G, memory):
    """Projection with noise maps, per-image jitter streams, masks and two loss terms: the chunked run is
    the same optimisation. A convolution over 2 images can round differently in the last bit from one over
    5 (a permuted batch of 5 gives bit-identical codes here), and Adam, which divides each coordinate's
    gradient by its running size, can grow such a difference where a gradient nearly cancels: on this case
    chunks of 2 leave one image 3e-4 off after 6 steps (0.1% of how far the codes moved), chunks of 1 leave
    every image within 1e-6. Hence a short run, checked against the size of the codes' moves."""
    target = G.sample(5, seed=3)
    mask = torch.ones(5, 1, 16, 16)
    mask[1, :, :4] = 0
    kw = dict(space="w+", steps=6, losses={"mse": 1.0, "msmse": 1.0}, seed=1, noise=True, noise_reg=1e3,
              mask=mask)  # latent_noise (per-image jitter) stays on
    whole = project(G, target, **kw)
    chunked = project(G, target, memory=memory, **kw)
    moved = (whole.code.values - LatentCode.mean(G, 5, "w+").values).abs().max()
    assert float(moved) > 0.05
    torch.testing.assert_close(chunked.code.values, whole.code.values, atol=3e-3 * float(moved), rtol=0)
    for a, b in zip(chunked.code.noise, whole.code.noise):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=0)
    assert chunked.metrics["mse"] == pytest.approx(whole.metrics["mse"], rel=1e-3)


def test_chunked_pti_matches_the_single_pass(G):
    target = G.sample(3, seed=5)
    code = LatentCode.from_seeds(G, [1, 2, 3], "w")
    kw = dict(steps=4, lr=1e-3, losses={"mse": 1.0}, locality=1.0, seed=0)
    whole = pivotal_tuning(G, code, target, **kw)
    chunked = pivotal_tuning(G, code, target, memory=1, **kw)
    for a, b in zip(whole.parameters(), chunked.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)
