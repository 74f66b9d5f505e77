"""The classifier wrapper, classifier files, and the bundled Fashion-MNIST classifier."""
import shutil
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cfgan
from cfgan import data, zoo
from cfgan.classifiers import Classifier, ClassifierError, NoGradientError, load_classifier, save_classifier
from cfgan.models import build_architecture
from generators import CheckpointError
from generators.files import file_sha256

NAMES = ["cat", "Dog", "bird"]


class Recorder(nn.Module):
    """Returns fixed-size scores and remembers what it was fed."""

    def __init__(self, k=3):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(k))
        self.seen = None

    def forward(self, x):
        self.seen = x.detach().clone()
        return x.mean((1, 2, 3)).unsqueeze(1) * self.scale


class Returns(nn.Module):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x):
        return self.value(x) if callable(self.value) else self.value


def images(n=2, c=1, size=8, seed=0):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# -- preprocessing -------------------------------------------------------------------------------------------
def test_declared_input_range_is_applied():
    x = images()
    model = Recorder()
    Classifier(model, input_range=(0, 1))(x)
    torch.testing.assert_close(model.seen, (x + 1) / 2)
    Classifier(model, input_range=(0, 255))(x)
    torch.testing.assert_close(model.seen, (x + 1) * 127.5)
    Classifier(model)(x)
    assert torch.equal(model.seen, x)


def test_resize_channels_and_normalisation():
    x = images(c=1, size=8)
    model = Recorder()
    Classifier(model, size=16, channels=3, input_range=(0, 1), mean=[0.5, 0.4, 0.3], std=[0.2, 0.3, 0.4])(x)
    resized = F.interpolate((x + 1) / 2, size=(16, 16), mode="bilinear", align_corners=False)
    mean, std = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1), torch.tensor([0.2, 0.3, 0.4]).view(1, 3, 1, 1)
    expected = (resized.expand(-1, 3, -1, -1) - mean) / std
    assert model.seen.shape == (2, 3, 16, 16)
    torch.testing.assert_close(model.seen, expected)

    rgb = images(c=3)
    Classifier(model, channels=1)(rgb)
    torch.testing.assert_close(model.seen, 0.299 * rgb[:, :1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:])
    with pytest.raises(ValueError, match="cannot convert 2-channel images"):
        Classifier(model, channels=3)(images(c=2))
    with pytest.raises(ValueError, match=r"float tensor \[N, C, H, W\]"):
        Classifier(model)(torch.zeros(3, 8, 8))


def test_gradients_flow_through_preprocessing_to_the_image():
    x = images(c=1, size=8).requires_grad_(True)
    classifier = Classifier(Recorder(), size=(12, 12), channels=3, input_range=(0, 1), mean=0.5, std=0.25)
    classifier.log_probs(x)[:, 0].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="input_range"):
        Classifier(Recorder(), input_range=(1, 0))
    with pytest.raises(ValueError, match="std must be positive"):
        Classifier(Recorder(), std=[0.0])
    with pytest.raises(ValueError, match="output must be"):
        Classifier(Recorder(), output="scores")
    with pytest.raises(ValueError, match="feature_layer 'nope'"):
        Classifier(Recorder(), feature_layer="nope")


# -- class names ---------------------------------------------------------------------------------------------
def test_class_index_accepts_ints_digit_strings_and_names():
    classifier = Classifier(Recorder(), class_names=NAMES)
    assert classifier.num_classes == 3
    queries = (2, "1", " 0 ", "DOG", "Bird", np.int64(1))
    assert [classifier.class_index(v) for v in queries] == [2, 1, 0, 1, 2, 1]
    assert classifier.class_name("dog") == "Dog"
    with pytest.raises(ValueError, match=r"unknown class 'horse'; valid classes: 0=cat, 1=Dog, 2=bird"):
        classifier.class_index("horse")
    with pytest.raises(ValueError, match="out of range"):
        classifier.class_index(3)
    unnamed = Classifier(Recorder())
    with pytest.raises(ValueError, match="has no class names"):
        unnamed.class_index("cat")
    unnamed(images())
    assert unnamed.num_classes == 3 and unnamed.class_name(2) == "2"
    with pytest.raises(ClassifierError, match="2 class names were given"):
        Classifier(Recorder(), class_names=["a", "b"])(images())


# -- output checks -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, message", [
    (lambda x: torch.zeros(x.shape[0]), r"returned shape \[2\] .* expected class scores \[2, K\]"),
    (lambda x: torch.zeros(x.shape[0], 3, 1), r"returned shape \[2, 3, 1\]"),
    (lambda x: torch.zeros(5, 3), r"returned shape \[5, 3\] for a batch of 2"),
    (lambda x: (torch.zeros(x.shape[0], 3), torch.zeros(1)), "returned a tuple of 2 items"),
    (lambda x: torch.tensor([[0.0, float("nan")], [1.0, 2.0]]), r"NaN or infinite scores for batch items"),
    (lambda x: torch.tensor([[0.0, 1.0], [float("inf"), 2.0]]), r"infinite scores for batch items \[1\]$"),
])
def test_bad_outputs_give_clear_errors(value, message):
    with pytest.raises(ClassifierError, match=message):
        Classifier(Returns(value))(images())


def test_model_failures_are_explained():
    with pytest.raises(ClassifierError, match="failed on a batch of shape .* declare size=/channels="):
        Classifier(nn.Conv2d(3, 2, 3))(images(c=1))


def test_probability_outputs_become_log_probabilities():
    probs = torch.tensor([[0.2, 0.3, 0.5], [0.9, 0.05, 0.05]])
    classifier = Classifier(Returns(probs), output="probs")
    torch.testing.assert_close(classifier.probs(images()), probs)
    torch.testing.assert_close(classifier.log_probs(images()), probs.log())
    assert classifier.predict(images()).tolist() == [2, 0]
    with pytest.raises(ClassifierError, match="do not sum to 1"):
        Classifier(Returns(probs * 2 / 3), output="probs")(images())
    with pytest.raises(ClassifierError, match=r"outside \[0, 1\].*output='logits'"):
        Classifier(Returns(torch.tensor([[3.0, -2.0, 0.0]] * 2)), output="probs")(images())


def test_binary_sigmoid_is_two_classes():
    z = torch.tensor([[-1.0], [2.0]])
    classifier = Classifier(Returns(z), kind="sigmoid", class_names=["Smiling"])
    p = torch.sigmoid(z).squeeze(1)
    torch.testing.assert_close(classifier.probs(images()), torch.stack([1 - p, p], 1))
    assert classifier.class_names == ["not Smiling", "Smiling"] and classifier.class_index("smiling") == 1
    from_probs = Classifier(Returns(torch.sigmoid(z)), kind="sigmoid", output="probs")
    torch.testing.assert_close(from_probs.probs(images()), torch.stack([1 - p, p], 1))
    multi = Returns(torch.tensor([[0.0, 3.0], [1.0, -3.0]]))
    with pytest.raises(ClassifierError, match="choose one with output_index="):
        Classifier(multi, kind="sigmoid")(images())
    picked = Classifier(multi, kind="sigmoid", output_index=1).probs(images())
    torch.testing.assert_close(picked[:, 1], torch.sigmoid(torch.tensor([3.0, -3.0])))


# -- numpy callables -----------------------------------------------------------------------------------------
def numpy_model(x):
    assert isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim == 4
    return np.stack([x.mean((1, 2, 3)), -x.mean((1, 2, 3))], 1)


def test_numpy_callable_works_without_gradients():
    classifier = load_classifier(numpy_model, input_range=(0, 1), class_names=["bright", "dark"])
    assert classifier.has_gradients is False
    x = images()
    mean = ((x + 1) / 2).mean((1, 2, 3))
    torch.testing.assert_close(classifier(x), torch.stack([mean, -mean], 1))
    x.requires_grad_(True)
    with pytest.raises(NoGradientError, match="plain Python function on numpy arrays and has no gradients"):
        classifier(x)[:, 0].sum().backward()
    with pytest.raises(ClassifierError, match="exposes no features"):
        classifier.features(x)
    with pytest.raises(ClassifierError, match="not a numeric array"):
        load_classifier(lambda x: ["a", "b"])(images())


# -- features ------------------------------------------------------------------------------------------------
class WithFeatures(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 5))
        self.head = nn.Linear(5, 3)

    def features(self, x):
        return torch.relu(self.body(x))

    def forward(self, x):
        return self.head(self.features(x))


class VGGLike(nn.Module):
    """torchvision VGG style: `features` is the conv trunk submodule, not a penultimate method."""

    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(1, 2, 3, padding=1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(128, 6), nn.ReLU(), nn.Linear(6, 3))

    def forward(self, x):
        return self.classifier(self.features(x))


def test_features_from_method_or_named_layer():
    torch.manual_seed(0)
    model = WithFeatures()
    x = images()
    torch.testing.assert_close(Classifier(model).features(x), torch.relu(model.body(x)))
    vgg = VGGLike()
    with pytest.raises(ClassifierError, match="exposes no features"):
        Classifier(vgg).features(x)
    hooked = Classifier(vgg, feature_layer="classifier.2").features(x)
    torch.testing.assert_close(hooked, vgg.classifier[:3](vgg.features(x)))
    assert not vgg.features._forward_hooks  # the hook is removed again


# -- loading -------------------------------------------------------------------------------------------------
def test_cfgan_classifier_file_round_trip(tmp_path):
    torch.manual_seed(0)
    kwargs = dict(width=4, feature_dim=8, num_classes=3)
    model = build_architecture("fmnist_cnn", **kwargs).eval()
    path = save_classifier(tmp_path / "c.pt", model, "fmnist_cnn", kwargs, class_names=NAMES,
                           preprocessing=dict(input_range=[0, 1], size=[32, 32]), meta=dict(note="x"))
    loaded = load_classifier(str(path))
    x = images(size=28)
    torch.testing.assert_close(loaded(x), model(F.interpolate((x + 1) / 2, size=(32, 32), mode="bilinear")))
    assert loaded.class_names == NAMES and loaded.meta["note"] == "x" and loaded.features(x).shape == (2, 8)
    overridden = load_classifier(path, input_range=(-1, 1), class_names=["a", "b", "c"])
    assert overridden.input_range == (-1.0, 1.0) and overridden.class_index("B") == 1
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "cfgan.classifier" and payload["version"] == 1


def test_unsafe_or_foreign_files_are_refused(tmp_path):
    model = WithFeatures()
    torch.save(model.state_dict(), tmp_path / "sd.pt")
    with pytest.raises(ValueError, match="bare state_dict"):
        load_classifier(tmp_path / "sd.pt")
    torch.save(model, tmp_path / "pickled.pt")
    with pytest.raises(ValueError, match="never unpickles model objects"):
        load_classifier(tmp_path / "pickled.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.pt is not a loadable classifier file"):
        load_classifier(tmp_path / "junk.pt")
    payload = dict(format="cfgan.classifier", version=1, arch="no_such_arch", state_dict={})
    torch.save(payload, tmp_path / "arch.pt")
    with pytest.raises(ValueError, match="unknown classifier architecture 'no_such_arch'"):
        load_classifier(tmp_path / "arch.pt")
    torch.save(dict(payload, version=7), tmp_path / "new.pt")
    with pytest.raises(ValueError, match="version 7"):
        load_classifier(tmp_path / "new.pt")
    with pytest.raises(FileNotFoundError, match="zoo:fashion-mnist"):
        load_classifier(str(tmp_path / "missing.pt"))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torchscript_file(tmp_path):
    torch.manual_seed(0)
    model = WithFeatures().eval()
    torch.jit.script(model).save(str(tmp_path / "scripted.pt"))
    loaded = load_classifier(tmp_path / "scripted.pt", class_names=NAMES)
    x = images()
    torch.testing.assert_close(loaded(x), model(x))
    assert loaded.has_gradients and loaded.name == "scripted"


def test_module_attribute_specs(tmp_path, monkeypatch):
    source = textwrap.dedent("""
        import torch
        from torch import nn

        class Tiny(nn.Module):
            def forward(self, x):
                return torch.stack([x.mean((1, 2, 3)), x.amax((1, 2, 3))], 1)

        instance = Tiny()

        def factory(pretrained=False):
            return Tiny()

        def predict(x):
            return x.reshape(len(x), -1)[:, :2]
    """)
    (tmp_path / "my_models.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    x = images()
    expected = torch.stack([x.mean((1, 2, 3)), x.amax((1, 2, 3))], 1)
    for spec in ("my_models:instance", "my_models:Tiny", "my_models:factory",
                 f"{tmp_path / 'my_models.py'}:instance"):
        classifier = load_classifier(spec)
        assert classifier.has_gradients
        torch.testing.assert_close(classifier(x), expected)
    as_numpy = load_classifier("my_models:predict")
    assert not as_numpy.has_gradients
    torch.testing.assert_close(as_numpy(x), x.reshape(2, -1)[:, :2])
    with pytest.raises(ValueError, match="has no attribute 'missing'"):
        load_classifier("my_models:missing")
    with pytest.raises(ValueError, match="cannot import module .no_such_module_xyz."):
        load_classifier("no_such_module_xyz:thing")


# -- the bundled Fashion-MNIST classifier --------------------------------------------------------------------
def test_zoo_classifier_loads_with_its_metadata():
    classifier = cfgan.load_classifier("zoo:fashion-mnist")
    assert classifier.class_names == data.FASHION_MNIST_CLASSES
    assert classifier.preprocessing["size"] == [32, 32] and classifier.preprocessing["channels"] == 1
    x = images(n=3, size=32)
    assert classifier(x).shape == (3, 10) and classifier.features(x).shape == (3, 128)
    record = zoo.CLASSIFIERS.card("fashion-mnist")
    assert record["sha256"] == file_sha256(zoo.CLASSIFIERS.path("fashion-mnist", verify=False))
    assert record["test_accuracy"] >= 0.91 and len(record["top_confusions"]) == 5
    assert zoo.CLASSIFIERS.path("zoo:fashion-mnist").stat().st_size < 3_000_000


def test_zoo_checksum_mismatch_is_an_error(tmp_path, monkeypatch):
    for suffix in (".pt", ".json"):
        shutil.copy(zoo.CLASSIFIERS.folder / f"fashion-mnist{suffix}", tmp_path / f"fashion-mnist{suffix}")
    weights = tmp_path / "fashion-mnist.pt"
    raw = bytearray(weights.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    weights.write_bytes(bytes(raw))
    monkeypatch.setattr(zoo.CLASSIFIERS, "folder", tmp_path)
    with pytest.raises(CheckpointError, match="checksum mismatch .* damaged or was replaced"):
        load_classifier("zoo:fashion-mnist")
    with pytest.raises(ValueError, match="unknown zoo classifier 'mnist', available: zoo:fashion-mnist"):
        load_classifier("zoo:mnist")


def test_zoo_samples_are_classified_correctly():
    samples = cfgan.zoo_samples()
    assert len(samples) == 40
    assert sorted(s.label for s in samples) == sorted(list(range(10)) * 4)
    batch = torch.stack([data.load_image(s.path, size=32, channels=1) for s in samples])
    assert batch.shape == (40, 1, 32, 32)
    classifier = load_classifier("zoo:fashion-mnist")
    with torch.no_grad():
        predicted = classifier.predict(batch)
    assert predicted.tolist() == [s.label for s in samples]
    assert all(s.class_name == data.FASHION_MNIST_CLASSES[s.label] for s in samples)


@pytest.mark.skipif(not data.fashion_mnist_available(), reason="Fashion-MNIST not installed "
                    "(apt-get install -y dataset-fashion-mnist)")
def test_zoo_classifier_accuracy_on_real_test_images():
    test_x, test_y = data.load_fashion_mnist("test")
    classifier = load_classifier("zoo:fashion-mnist")
    with torch.no_grad():
        predicted = torch.cat([classifier.predict(data.to_model_range(test_x[i:i + 500]))
                               for i in range(0, 2000, 500)])
    accuracy = (predicted == test_y[:2000]).float().mean().item()
    assert accuracy >= 0.91
