"""Saliency methods: every method finds what a classifier that looks at one known quadrant looks at; masks
obey their sparsity weight; MIP's constraints and reported rates are what they claim; seeds reproduce."""
import pytest
import torch
from torch import nn

from cfgan.classifiers import Classifier
from cfgan.saliency import METHODS, make_infiller, make_method, pixel_scores
from cfgan.saliency.infill import GanBankInfill
from cfgan.saliency.mip_lp import margin_gradients

from tiny_models import tiny_classifier

TINY_G = dict(dim=32, resolution=16)

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


class TemplateNet(nn.Module):
    """Two classes; log-odds of class 1 = 4 - 8 * mean |x - T| over the top-left quadrant, T the quadrant of the
    ideal ``scene``. Noise there always lowers the score (for ``QuadrantNet`` it raises it: relu is convex, so
    noise is no threat there and maximal invariant perturbation rightly calls the quadrant invariant)."""

    def __init__(self):
        super().__init__()
        template = torch.full((1, 1, Q, Q), -0.95)
        template[..., 1:Q - 1, 1:Q - 1] = 0.85
        self.register_buffer("template", template)
        self.relu = nn.ReLU()

    def forward(self, x):
        diff = x[:, :, :Q, :Q] - self.template
        s = 4 - 8 * (self.relu(diff) + self.relu(-diff)).mean((1, 2, 3)).unsqueeze(1)
        return torch.cat([torch.zeros_like(s), s], 1)


def quadrant_classifier():
    return Classifier(QuadrantNet(), name="quadrant")


@pytest.fixture(scope="module")
def quadrant():
    return quadrant_classifier()


@pytest.fixture(scope="module")
def template():
    return Classifier(TemplateNet(), name="template")


def scene(n=2, seed=0):
    """Dark images with a bright square in the read quadrant and a brighter distractor square elsewhere."""
    g = torch.Generator().manual_seed(seed)
    x = -1 + 0.1 * torch.rand(n, 1, SIZE, SIZE, generator=g)
    x[:, :, 1:Q - 1, 1:Q - 1] = 0.7 + 0.3 * torch.rand(n, 1, Q - 2, Q - 2, generator=g)
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
    with pytest.raises(ValueError, match=r"option baseline must be a number in \[-1.0, 1.0\], got 255"):
        make_method("occlusion", quadrant, baseline=255).attribute(scene(1), target=1)
    with pytest.raises(ValueError, match="max_batch"):
        make_method("gradient", quadrant, max_batch=0)


def test_targets_default_to_the_predicted_class_and_take_names(one_thread):
    clf = Classifier(tiny_classifier(SIZE, classes=4, seed=2), class_names=["a", "b", "c", "d"])
    x = torch.rand(3, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(3)) * 2 - 1
    method = make_method("gradient", clf, max_batch=2)
    predicted = clf.predict(x)
    assert torch.equal(method.attribute(x), method.attribute(x, target=predicted))
    named = method.attribute(x, target="c")
    assert torch.equal(named, method.attribute(x, target=2))
    assert not torch.equal(named, method.attribute(x, target=1))
    with pytest.raises(ValueError, match="unknown class 'e'"):
        method.attribute(x, target="e")


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


# -- the mask methods ------------------------------------------------------------------------------------
FAST = {
    "fido ssr, mean in-fill": ("fido", dict(objective="ssr", infill="mean", steps=60, samples=2)),
    "fido sdr, blur in-fill": ("fido", dict(objective="sdr", infill="blur", steps=60, samples=2)),
    "fido ssr, gan in-fill": ("fido", dict(objective="ssr", infill="gan", steps=60, samples=2, bank=64)),
    "fido sdr, gan in-fill": ("fido", dict(objective="sdr", infill="gan", steps=60, samples=2, bank=64)),
    "meaningful": ("meaningful", dict(steps=60)),
    "mip": ("mip", dict(steps=60, samples=8, lr=0.05)),
    "mip-lp": ("mip-lp", {}),
}


@pytest.mark.parametrize("label", list(FAST))
def test_mask_methods_find_the_quadrant(label, quadrant, template, G, one_thread):
    name, options = FAST[label]
    x = scene()
    method = make_method(name, template if name.startswith("mip") else quadrant, generator=G, seed=0, **options)
    attributions = method.attribute(x, target=1)
    assert attributions.shape == x.shape
    assert share_in_quadrant(pixel_scores(attributions, name)).min() >= 0.9


@pytest.mark.parametrize("name, weight, options", [
    ("fido", "sparsity", dict(objective="ssr", infill="mean", steps=60, samples=2)),
    ("fido", "sparsity", dict(objective="sdr", infill="mean", steps=60, samples=2)),
    ("meaningful", "l1", dict(steps=60)),
])
def test_masks_shrink_as_their_sparsity_weight_grows(name, weight, options, quadrant, one_thread):
    x = scene(2, seed=4)
    areas = []
    for value in (0.5, 20.0):
        method = make_method(name, quadrant, seed=0, **options, **{weight: value})
        scores = pixel_scores(method.attribute(x, target=1), name)
        areas.append(float(scores.mean()))  # kept (SSR) / dropped (SDR) / deleted (meaningful) fraction
        assert torch.allclose(method.extras["area"], scores.mean((1, 2)), atol=0.02)
    assert areas[1] < 0.7 * areas[0]


def test_fido_gan_is_reproducible_and_chunking_changes_nothing(quadrant, G, one_thread):
    x = scene(2, seed=5)
    options = dict(infill="gan", steps=8, samples=3, bank=32)
    first = make_method("fido", quadrant, generator=G, seed=3, **options).attribute(x, target=1)
    again = make_method("fido", quadrant, generator=G, seed=3, max_batch=4, **options).attribute(x, target=1)
    other = make_method("fido", quadrant, generator=G, seed=4, **options).attribute(x, target=1)
    assert torch.allclose(first, again, atol=1e-4)
    assert float((first - other).abs().max()) > 0.1
    # an image's map does not depend on its batch, up to float rounding (which Adam's normalised steps
    # amplify where a gradient is nearly zero: 1e-7 after one step, about 1e-2 after eight)
    alone = make_method("fido", quadrant, generator=G, seed=3, **options).attribute(x[1:], target=1)
    assert torch.allclose(first[1:], alone, atol=0.03)


@pytest.mark.parametrize("name, options", [
    ("fido", dict(infill="noise", steps=5, samples=2)), ("meaningful", dict(perturbation="noise", steps=5)),
    ("mip", dict(steps=5, samples=4, lr=0.5)), ("smoothgrad", dict(samples=4, stdev=1.0)),
])
def test_a_seed_fixes_every_random_choice(name, options, quadrant, template, one_thread):
    x = scene(2, seed=8)
    clf = quadrant if name == "smoothgrad" else template  # |x - T| has a noise-proof |gradient|
    runs = [make_method(name, clf, seed=seed, **options).attribute(x, target=1) for seed in (1, 1, 2)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


class Recorder(nn.Module):
    """The quadrant net, remembering the largest batch it was shown."""

    def __init__(self):
        super().__init__()
        self.net, self.largest = QuadrantNet(), 0
        self.relu = nn.ReLU()  # for guided backprop's and DeepLift's hooks

    def forward(self, x):
        self.largest = max(self.largest, x.shape[0])
        return self.net(self.relu(x + 1) - 1)


@pytest.mark.parametrize("name, options", [
    ("fido", dict(infill="mean", steps=3, samples=5)), ("meaningful", dict(steps=3)),
    ("mip", dict(steps=3, samples=5)), ("integrated-gradients", dict(steps=20)), ("smoothgrad", dict(samples=9)),
    ("occlusion", {}), ("lime", dict(samples=30)), ("gradient", {}), ("guided-backprop", {}), ("deeplift", {}),
])
def test_max_batch_bounds_every_pass(name, options):
    recorder = Recorder()
    make_method(name, Classifier(recorder), seed=0, max_batch=4, **options).attribute(scene(5), target=1)
    assert 1 <= recorder.largest <= 4


def test_gan_bank_infill_is_the_nearest_sample_on_the_kept_pixels(G):
    infill = GanBankInfill(G, bank=16, neighbours=1, seed=0, blend=None)
    bank = infill.prior_bank()
    target = bank[5:6].clone()
    target[..., Q:, :] = -1.0  # change the bottom half only
    keep = torch.zeros(1, 1, SIZE, SIZE)
    keep[..., :Q, :] = 1.0  # the top half is visible
    infill.prepare(target)
    fill = infill.fill(torch.tensor([0]), keep, torch.rand(1, 1, SIZE, SIZE))
    assert torch.equal(fill[0], bank[5])  # the bottom half comes back from the matching sample


def test_infill_apply_keeps_the_kept_pixels_and_fills_the_rest(G):
    x = scene(2, seed=6)
    keep = torch.zeros(1, 1, SIZE, SIZE)
    keep[..., :, :Q] = 1.0
    mean = make_infiller("mean").apply(x, keep)
    assert torch.equal(mean[..., :Q], x[..., :Q])
    assert torch.allclose(mean[..., Q:], x.mean((2, 3), keepdim=True).expand_as(x)[..., Q:])
    gan = make_infiller("gan", G, seed=0, bank=32, neighbours=4, blend=None).apply(x, keep, seed=1)
    assert torch.equal(gan[..., :Q], x[..., :Q])
    assert torch.equal(gan, make_infiller("gan", G, seed=0, bank=32, neighbours=4, blend=None).apply(x, keep, seed=1))
    samples = G.synthesis(G.mapping(G.sample_z(32, 0), None)).clamp(-1, 1)
    distances = (gan[:, None, :, :, Q:] - samples[None, :, :, :, Q:]).flatten(2).abs().amax(2)
    assert (distances.min(1).values < 1e-5).all()  # every in-fill is one of the bank's samples
    blended = make_infiller("gan", G, seed=0, bank=32, neighbours=4, blend=0.2).apply(x, keep)
    nearest = make_infiller("gan", G, seed=0, bank=32, neighbours=1).apply(x, keep)
    lo, hi = samples.min(0).values, samples.max(0).values
    assert ((blended >= lo - 1e-5) & (blended <= hi + 1e-5))[..., Q:].all()  # a convex mix of bank samples
    assert not torch.allclose(blended, nearest)
    with pytest.raises(ValueError, match="option blend must be a temperature"):
        make_method("fido", quadrant_classifier(), generator=G, blend="yes").attribute(x, target=1)


def test_fido_runs_with_an_image_bank_and_with_exact_masked_projection(quadrant, G, one_thread):
    x = scene(1, seed=7)
    ws = G.mapping(G.sample_z(1, 3), None)  # a W+ code for the image, as a latent file would give
    image_bank = make_method("fido", quadrant, generator=G, infill="gan", bank_source="image", latents=ws, bank=8,
                             steps=3, samples=2)
    exact = make_method("fido", quadrant, generator=G, infill="gan-project", project_steps=2, steps=2, samples=1)
    for method in (image_bank, exact):
        keep = method.attribute(x, target=1)
        assert keep.shape == x.shape and ((keep >= 0) & (keep <= 1)).all()
    with pytest.raises(ValueError, match="latents has 1 codes for 2 images"):
        image_bank.attribute(scene(2), target=1)


def test_mip_reports_the_rate_at_which_its_perturbations_keep_the_class(one_thread):
    clf = Classifier(tiny_classifier(SIZE, classes=4, seed=2))
    x = torch.rand(2, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    target = clf.predict(x)
    method = make_method("mip", clf, seed=0, steps=40, samples=8, lr=0.05, penalty=0.02)
    w = method.attribute(x, target=target)
    assert ((w >= 0) & (w <= 2.0)).all()
    reported = method.extras["keep_rate"]
    g = torch.Generator().manual_seed(999)
    fresh = []
    for i in range(2):
        t = torch.rand(400, 1, SIZE, SIZE, generator=g) * 2 - 1
        with torch.no_grad():
            fresh.append(float((clf.predict(x[i:i + 1] + t * w[i:i + 1]) == target[i]).float().mean()))
    fresh = torch.tensor(fresh)
    assert ((reported > 0.05) & (reported < 0.95)).all(), reported  # a rate worth checking
    p = (reported + fresh) / 2
    tolerance = 4 * (p * (1 - p) * (1 / 256 + 1 / 400)).sqrt() + 0.01
    assert ((reported - fresh).abs() <= tolerance).all(), (reported, fresh)


def test_mip_lp_solution_satisfies_its_linearised_constraint(one_thread):
    net = tiny_classifier(SIZE, classes=4, seed=3)
    with torch.no_grad():
        net[-1].weight.mul_(30)  # margins of a few logits, as a trained model has
    clf = Classifier(net)
    x = torch.rand(2, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 2 - 1
    target = clf.predict(x)
    method = make_method("mip-lp", clf, delta=0.1, margin_fraction=0.5, max_w=2.0)
    w = method.attribute(x, target=target)
    assert ((w >= 0) & (w <= 2.0 + 1e-9)).all()
    for i in range(2):
        margins, grads = margin_gradients(clf, x[i:i + 1], int(target[i]))  # recomputed here, independently
        lhs = grads.abs().double() @ w[i].flatten().double()
        rhs = (0.5 * margins.double() - 0.1).clamp_min(0)
        scale = float(rhs.abs().max()) + 1.0
        assert (lhs <= rhs + 1e-6 * scale).all(), (lhs, rhs)
        # optimal: unless every amplitude is at its bound, some constraint is tight
        if bool((w[i] < 2.0 - 1e-6).any()):
            assert float((rhs - lhs).min()) <= 1e-5 * scale
    assert (w < 2.0 - 1e-6).any() and (w > 1e-6).any()  # the budget binds: neither all nor nothing


def test_mask_method_errors_are_clear(quadrant, G):
    with pytest.raises(ValueError, match="option steps must be an integer >= 1"):
        make_method("fido", quadrant, infill="mean", steps=0).attribute(scene(1), target=1)
    with pytest.raises(ValueError, match="generator makes"):
        make_method("fido", quadrant, generator=G).attribute(torch.zeros(1, 1, 8, 8), target=1)
    with pytest.raises(ValueError, match="option grid=99"):
        make_method("meaningful", quadrant, grid=99).attribute(scene(1), target=1)
    with pytest.raises(ValueError, match="perturbation='smoke'.*blur, constant, noise"):
        make_method("meaningful", quadrant, perturbation="smoke")
