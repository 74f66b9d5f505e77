"""Saliency methods: every method finds what a classifier that looks at one known quadrant looks at; masks
obey their sparsity weight; MIP's constraints and reported rates are what they claim; seeds reproduce."""
import pytest
import torch
from torch import nn

from cfgan.classifiers import Classifier
from cfgan.saliency import METHODS, make_method, pixel_scores

SIZE = 16
Q = SIZE // 2  # the quadrant the classifier reads: rows and columns 0..Q-1


class QuadrantNet(nn.Module):
    """Two classes; log-odds of class 1 = 8 * (mean of relu(x) over the top-left quadrant - 0.3). Nothing
    outside the quadrant reaches the output, so every faithful map puts its weight there."""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()
        self.head = nn.Linear(1, 1)
        with torch.no_grad():
            self.head.weight.fill_(8.0)
            self.head.bias.fill_(-8.0 * 0.3)

    def forward(self, x):
        inside = self.relu(x[:, :, :Q, :Q]).mean((1, 2, 3)).unsqueeze(1)
        s = self.head(inside)
        return torch.cat([torch.zeros_like(s), s], 1)


@pytest.fixture(scope="module")
def quadrant():
    return Classifier(QuadrantNet(), name="quadrant")


def scene(n=2, seed=0):
    """Dark images with a bright square in the read quadrant and a brighter distractor square elsewhere."""
    g = torch.Generator().manual_seed(seed)
    x = -1 + 0.1 * torch.rand(n, 1, SIZE, SIZE, generator=g)
    x[:, :, 1:Q - 1, 1:Q - 1] = 0.5 + 0.3 * torch.rand(n, 1, Q - 2, Q - 2, generator=g)
    x[:, :, Q + 1:SIZE - 1, Q + 1:SIZE - 1] = 0.9
    return x


def share_in_quadrant(scores):
    """Fraction of the top-|object| pixels of each map that lie in the read quadrant's object."""
    k = (Q - 2) ** 2
    inside = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    inside[:Q, :Q] = True
    top = scores.flatten(1).topk(k, dim=1).indices
    return inside.flatten()[top].float().mean(1)


CAPTUM = [name for name, info in METHODS.items() if info.source == "captum"]


@pytest.mark.parametrize("name", CAPTUM)
def test_captum_methods_find_the_quadrant(name, quadrant, one_thread):
    x = scene()
    assert quadrant.predict(x).tolist() == [1, 1]
    method = make_method(name, quadrant, seed=0, max_batch=8)
    attributions = method.attribute(x, target=1)
    assert attributions.shape == x.shape
    scores = pixel_scores(attributions, name)
    assert scores.shape == (2, SIZE, SIZE)
    assert share_in_quadrant(scores).min() >= 0.9


def test_lime_is_reproducible_for_a_seed(quadrant, one_thread):
    x = scene(1, seed=3)
    first = make_method("lime", quadrant, seed=5, samples=60).attribute(x, target=1)
    torch.manual_seed(123)  # the global stream must not matter
    again = make_method("lime", quadrant, seed=5, samples=60).attribute(x, target=1)
    other = make_method("lime", quadrant, seed=6, samples=60).attribute(x, target=1)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_lime_leaves_the_callers_random_stream_alone(quadrant):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    make_method("lime", quadrant, seed=1, samples=20).attribute(scene(1), target=1)
    assert torch.equal(torch.rand(3), expected)


def test_smoothgrad_map_does_not_depend_on_the_batch(quadrant):
    x = scene(3, seed=1)
    method = make_method("smoothgrad", quadrant, seed=2, samples=6)
    together = method.attribute(x, target=1)
    alone = method.attribute(x[1:2], target=1)
    assert torch.allclose(together[1:2], alone, atol=1e-6)


def test_inner_batch_bound_keeps_results(quadrant):
    x = scene(3, seed=2)
    for name in ("integrated-gradients", "occlusion"):
        free = make_method(name, quadrant).attribute(x, target=1)
        bounded = make_method(name, quadrant, max_batch=2).attribute(x, target=1)
        assert torch.allclose(free, bounded, atol=1e-5 * float(free.abs().max()))


def test_bad_names_options_and_targets_are_refused(quadrant):
    with pytest.raises(ValueError, match="unknown saliency method 'fidoo'.*fido"):
        make_method("fidoo", quadrant)
    with pytest.raises(ValueError, match="unknown option 'nsteps'.*steps"):
        make_method("integrated-gradients", quadrant, nsteps=3)
    with pytest.raises(ValueError, match="infill='paint'.*gan, gan-project, blur"):
        make_method("fido", quadrant, infill="paint")
    with pytest.raises(ValueError, match="needs a generator"):
        make_method("fido", quadrant)
    method = make_method("gradient", quadrant)
    with pytest.raises(ValueError, match="target 7 is not a class.*0..1"):
        method.attribute(scene(1), target=7)
    with pytest.raises(ValueError, match="target has 3 classes for 2 images"):
        method.attribute(scene(2), target=[0, 1, 1])
    with pytest.raises(ValueError, match=r"inputs .*\[0, 255\]"):
        method.attribute(scene(1) * 127.5 + 127.5, target=1)
    with pytest.raises(ValueError, match="unknown option 'window'"):
        method.attribute(scene(1), target=1, window=3)
    with pytest.raises(ValueError, match="max_batch"):
        make_method("gradient", quadrant, max_batch=0)


def test_relu_methods_refuse_models_without_relu_modules():
    functional = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, 3), nn.Tanh()), name="tanh-net")
    for name in ("guided-backprop", "deeplift"):
        with pytest.raises(ValueError, match="nn.ReLU modules.*tanh-net"):
            make_method(name, functional).attribute(scene(1), target=0)


def test_gradient_free_classifier_gets_a_clear_error_and_the_black_box_methods_work():
    net = QuadrantNet()
    black_box = Classifier(lambda a: net(torch.from_numpy(a)).numpy(), name="numpy-quadrant")
    with pytest.raises(ValueError, match="needs the classifier's gradients"):
        make_method("gradient", black_box)
    scores = pixel_scores(make_method("occlusion", black_box).attribute(scene(1), target=1), "occlusion")
    assert share_in_quadrant(scores).min() >= 0.9


def test_pixel_scores_conventions():
    w = torch.rand(2, 3, 4, 4)
    assert torch.allclose(pixel_scores(w, "mip"), -w.mean(1))
    assert torch.allclose(pixel_scores(w, "fido"), w.mean(1))
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        pixel_scores(w[0], "gradient")
