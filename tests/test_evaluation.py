import numpy as np
import pytest
import torch

from cfgan.evaluation import class_histogram, feature_stats, frechet_distance


def _gaussian(n, dim, seed, mean=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, dim)) * scale + mean


def test_identical_sets_have_zero_distance():
    feats = _gaussian(500, 16, seed=0)
    assert frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-8)


def test_shift_adds_squared_mean_difference():
    # A pure shift leaves the covariance unchanged, so FD = |delta|^2 exactly.
    feats = _gaussian(400, 8, seed=1)
    delta = np.linspace(-1.0, 2.0, 8)
    expected = float(delta @ delta)
    assert frechet_distance(feats, feats + delta) == pytest.approx(expected, rel=1e-7)


def test_symmetric():
    a = _gaussian(300, 12, seed=2)
    b = _gaussian(300, 12, seed=3, mean=0.5, scale=1.7)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)


def test_matches_closed_form_for_diagonal_covariances():
    # For diagonal covariances, FD = |mu_a - mu_b|^2 + sum_i (sigma_a,i - sigma_b,i)^2.
    rng = np.random.default_rng(4)
    dim = 6
    a = rng.standard_normal((20000, dim)) * np.arange(1, dim + 1) + 1.0
    b = rng.standard_normal((20000, dim)) * 0.5 - 1.0
    sa, sb = feature_stats(a), feature_stats(b)
    var_a, var_b = np.diag(sa.cov), np.diag(sb.cov)
    # Use the empirical diagonal; the off-diagonal round-off of a finite sample is tiny, hence the tolerance.
    expected = np.sum((sa.mean - sb.mean) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-2)


def test_exact_closed_form_from_constructed_gaussians():
    # Build samples whose empirical covariance is exactly diagonal (whitened, then scaled).
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1000, 4))
    x -= x.mean(0)
    x = x @ np.linalg.inv(np.linalg.cholesky(np.cov(x, rowvar=False)).T)
    sig_a, sig_b = np.array([1.0, 2.0, 3.0, 0.5]), np.array([2.0, 2.0, 1.0, 0.1])
    mu_a, mu_b = np.array([0.0, 1.0, 0.0, 0.0]), np.array([1.0, 1.0, -1.0, 0.0])
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((sig_a - sig_b) ** 2)
    assert frechet_distance(x * sig_a + mu_a, x * sig_b + mu_b) == pytest.approx(expected, rel=1e-9)


def test_accepts_tensors_and_degenerate_covariance():
    # Features with fewer samples than dimensions give a singular covariance; FD must stay finite, >= 0.
    a = torch.randn(10, 32, generator=torch.Generator().manual_seed(0))
    b = torch.randn(10, 32, generator=torch.Generator().manual_seed(1))
    value = frechet_distance(a, b)
    assert np.isfinite(value) and value > 0
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="feature dimensions differ"):
        frechet_distance(_gaussian(10, 3, 0), _gaussian(10, 4, 0))
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        frechet_distance(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((4, 2), np.nan), _gaussian(4, 2, 0))


def test_class_histogram():
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    np.testing.assert_allclose(class_histogram(probs), [0.5, 0.25, 0.25])
    np.testing.assert_allclose(class_histogram(torch.tensor(probs)[:2]), [0.5, 0.5, 0.0])
    with pytest.raises(ValueError, match="num_classes"):
        class_histogram(probs, num_classes=10)


def test_sample_outputs_are_fixed_by_the_seed_and_independent_of_batching():
    from cfgan.classifiers import Classifier
    from cfgan.evaluation import classifier_outputs, sample_outputs
    from cfgan.models.fmnist_cnn import FashionMNISTCNN
    from generators.stylegan2 import StyleGAN2Generator

    torch.manual_seed(0)
    G = StyleGAN2Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=32, img_channels=1,
                           mapping_kwargs=dict(num_layers=1), synthesis_kwargs=dict(channel_base=64, channel_max=8))
    classifier = Classifier(FashionMNISTCNN(width=4, feature_dim=16))
    feats, probs, kept = sample_outputs(G, classifier, 10, seed=5, batch_size=4, keep=6)
    again, _, _ = sample_outputs(G, classifier, 10, seed=5, batch_size=10, keep=6)
    other, _, _ = sample_outputs(G, classifier, 10, seed=6, batch_size=10)
    assert feats.shape == (10, 16) and probs.shape == (10, 10) and kept.shape == (6, 1, 32, 32)
    torch.testing.assert_close(feats, again, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(feats, other)
    torch.testing.assert_close(probs.sum(1), torch.ones(10))
    # The kept images are the samples themselves: the classifier sees the same features from them.
    kept_feats, _ = classifier_outputs(classifier, kept)
    torch.testing.assert_close(kept_feats, feats[:6], rtol=1e-4, atol=1e-5)
