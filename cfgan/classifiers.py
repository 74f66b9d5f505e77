"""One wrapper for every classifier cfgan explains.

Every method in cfgan talks to a ``Classifier``: it takes images in cfgan's range ([-1, 1], NCHW), applies
the preprocessing the wrapped model declares, and returns *class logits*: a tensor [N, K] whose softmax is
the class distribution. Binary sigmoid models (one output) therefore become two classes [1 - p, p], and
models that output probabilities are mapped to log-probabilities, so methods never special-case them.
"""
from __future__ import annotations

import inspect
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from generators.files import is_torchscript, torch_save
from generators.importing import import_object, is_object_spec
from generators.loaders.errors import CheckpointError
from generators.loaders.torch_files import torch_load
from inversion.images import check_image_range

CLASSIFIER_FORMAT = "cfgan.classifier"
CLASSIFIER_FORMAT_VERSION = 1
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights for RGB -> gray


class ClassifierError(RuntimeError):
    """The wrapped model failed or returned something that is not class scores [N, K]."""


class NoGradientError(RuntimeError):
    """Backpropagation through a classifier that has no gradients (a plain numpy callable)."""


# -- numpy callables ---------------------------------------------------------------------------------------
class _NumpyCall(torch.autograd.Function):
    """Evaluates a numpy function outside autograd; backpropagating through it raises a clear error."""

    @staticmethod
    def forward(ctx, x, fn, name):
        ctx.name = name
        out = fn(np.ascontiguousarray(x.detach().cpu().numpy()))
        try:
            array = np.asarray(out, dtype=np.float32)
        except (TypeError, ValueError) as err:
            raise ClassifierError(f"classifier {name} returned {type(out).__name__}, which is not a numeric "
                                  f"array of class scores [N, K]") from err
        return torch.from_numpy(np.ascontiguousarray(array)).to(x.device)

    @staticmethod
    def backward(ctx, grad):
        raise NoGradientError(
            f"classifier {ctx.name} is a plain Python function on numpy arrays and has no gradients "
            "(has_gradients=False): use a gradient-free method, or wrap a torch model instead")


class NumpyCallableModel(nn.Module):
    """Adapts ``fn(images: np.ndarray float32 [N, C, H, W]) -> scores [N, K]`` to an nn.Module."""

    def __init__(self, fn: Callable, name: Optional[str] = None):
        super().__init__()
        self.fn = fn
        self.name = name or getattr(fn, "__qualname__", None) or type(fn).__name__

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _NumpyCall.apply(x, self.fn, self.name)


# -- the wrapper ---------------------------------------------------------------------------------------------
def _as_pair(value, what: str) -> Optional[Tuple[int, int]]:
    if value is None:
        return None
    pair = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) <= 0:
        raise ValueError(f"{what} must be a positive int or (height, width), got {value!r}")
    return pair


def _channel_stats(values, name: str) -> Optional[torch.Tensor]:
    if values is None:
        return None
    t = torch.as_tensor(values, dtype=torch.float32).reshape(-1)
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if name == "std" and (t <= 0).any():
        raise ValueError(f"std must be positive, got {values}")
    return t.reshape(1, -1, 1, 1)


class Classifier(nn.Module):
    """A classifier with declared preprocessing, seen by cfgan as ``images in [-1, 1] -> class logits``.

    Args:
        model: an ``nn.Module`` (or TorchScript module) returning scores [N, K], or a plain Python callable on
            numpy float32 arrays [N, C, H, W] (then ``has_gradients`` is False).
        input_range: the pixel range the model expects; images are mapped affinely from [-1, 1].
        size: (H, W) or int the model expects; images are resized bilinearly (no antialiasing, so the
            resize stays cheap and differentiable).
        channels: 1 or 3, the channel count the model expects (gray <-> RGB converted on the fly).
        mean, std: per-channel normalisation applied last, ``(x - mean) / std``, in the model's range.
        output: ``'logits'`` or ``'probs'``: what the model returns.
        kind: ``'softmax'`` (K mutually exclusive classes) or ``'sigmoid'`` (independent sigmoid outputs; a
            one-output model becomes classes [negative, positive], a multi-output one needs ``output_index``).
        class_names: names of the K classes (for a sigmoid model, one name is the positive class).
        feature_layer: name of a submodule whose output ``features`` returns (default: ``model.features``).
    Wrapping puts the model in eval mode: an explainer never trains the classifier.
    """

    def __init__(self, model, input_range: Sequence[float] = (-1, 1), size=None,
                 channels: Optional[int] = None, mean=None, std=None, output: str = "logits",
                 kind: str = "softmax",
                 class_names: Optional[Sequence[str]] = None, feature_layer: Optional[str] = None,
                 output_index: Optional[int] = None, has_gradients: Optional[bool] = None,
                 check_outputs: bool = True, name: Optional[str] = None):
        super().__init__()
        if isinstance(model, Classifier):
            raise TypeError("model is already a Classifier; wrap its .model to change the preprocessing")
        if not isinstance(model, nn.Module):
            if not callable(model):
                raise TypeError(f"a classifier must be an nn.Module or a callable, "
                                f"got {type(model).__name__}")
            model = NumpyCallableModel(model)
            has_gradients = False if has_gradients is None else has_gradients
        self.model = model.eval()
        self.has_gradients = True if has_gradients is None else bool(has_gradients)
        self.name = name or getattr(model, "name", None) or type(model).__name__

        lo, hi = (float(v) for v in input_range)
        if not lo < hi:
            raise ValueError(f"input_range must be (low, high) with low < high, got {input_range}")
        self.input_range = (lo, hi)
        self.size = _as_pair(size, "size")
        if channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.channels = channels
        self.register_buffer("mean", _channel_stats(mean, "mean"), persistent=False)
        self.register_buffer("std", _channel_stats(std, "std"), persistent=False)
        if output not in ("logits", "probs"):
            raise ValueError(f"output must be 'logits' or 'probs', got {output!r}")
        if kind not in ("softmax", "sigmoid"):
            raise ValueError(f"kind must be 'softmax' or 'sigmoid', got {kind!r}")
        self.output, self.kind, self.output_index = output, kind, output_index
        self.check_outputs = check_outputs

        names = list(class_names) if class_names is not None else None
        if names is not None and kind == "sigmoid" and len(names) == 1:
            names = [f"not {names[0]}", names[0]]
        if names is not None and len(set(n.lower() for n in names)) != len(names):
            raise ValueError(f"class names must be distinct (ignoring case), got {names}")
        self.class_names = names
        self._num_classes = 2 if kind == "sigmoid" else (len(names) if names else None)

        self.feature_layer = feature_layer
        self._feature_module = None
        if feature_layer is not None:
            try:
                self._feature_module = model.get_submodule(feature_layer)
            except AttributeError as err:
                known = [n for n, _ in model.named_modules() if n][:20]
                raise ValueError(f"feature_layer {feature_layer!r} is not a submodule of {self.name}; "
                                 f"some submodules are: {', '.join(known) or '(none)'}") from err
        self.meta: Dict[str, Any] = {}

    # -- preprocessing -----------------------------------------------------------------------------------
    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> what the wrapped model expects (range, channels, size, normalisation)."""
        if not torch.is_tensor(images) or images.dim() != 4 or not images.is_floating_point():
            got = (f"{images.dtype} tensor of shape {list(images.shape)}" if torch.is_tensor(images)
                   else type(images).__name__)
            raise ValueError(f"classifier input must be a float tensor [N, C, H, W] in [-1, 1], got {got}")
        if not images.requires_grad:  # user data; renders inside optimisation loops skip the extra pass
            check_image_range(images, "classifier input")
        x = images
        param = next(self.model.parameters(), None)
        if param is not None and x.dtype != param.dtype:
            x = x.to(param.dtype)
        if self.channels is not None and x.shape[1] != self.channels:
            if x.shape[1] == 1 and self.channels == 3:
                x = x.expand(-1, 3, -1, -1)
            elif x.shape[1] == 3 and self.channels == 1:
                luma = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).reshape(1, 3, 1, 1)
                x = (x * luma).sum(1, keepdim=True)
            else:
                raise ValueError(f"cannot convert {x.shape[1]}-channel images to the {self.channels} "
                                 f"channels classifier {self.name} expects")
        lo, hi = self.input_range
        if (lo, hi) != (-1.0, 1.0):
            x = (x + 1) * ((hi - lo) / 2) + lo
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=False)
        if self.mean is not None:
            x = x - self.mean
        if self.std is not None:
            x = x / self.std
        return x

    # -- outputs -----------------------------------------------------------------------------------------
    def _scores(self, images: torch.Tensor) -> torch.Tensor:
        x = self.preprocess(images)
        try:
            out = self.model(x)
        except torch.cuda.OutOfMemoryError:
            raise
        except (RuntimeError, ValueError, TypeError) as err:
            if isinstance(err, (ClassifierError, NoGradientError)):
                raise
            raise ClassifierError(
                f"classifier {self.name} failed on a batch of shape {list(x.shape)} (after preprocessing "
                f"{self.describe_preprocessing()}): {err}. If it expects another size or channel count, "
                "declare size=/channels=") from err
        if not torch.is_tensor(out) and torch.is_tensor(getattr(out, "logits", None)):
            out = out.logits  # e.g. Hugging Face model outputs
        if not torch.is_tensor(out):
            what = (f"a {type(out).__name__} of {len(out)} items" if isinstance(out, (tuple, list))
                    else f"a {type(out).__name__}")
            raise ClassifierError(f"classifier {self.name} returned {what}; it must return one tensor of "
                                  "class scores [N, K] (wrap it to pick the scores)")
        if not out.is_floating_point():
            out = out.float()
        n = images.shape[0]
        if out.dim() != 2 or out.shape[0] != n:
            raise ClassifierError(f"classifier {self.name} returned shape {list(out.shape)} for a batch "
                                  f"of {n} images; expected class scores [{n}, K]"
                                  + (" (a binary model should return [N, 1])" if out.dim() == 1 else ""))
        if self.check_outputs and not torch.isfinite(out).all():
            bad = (~torch.isfinite(out)).any(1).nonzero().flatten().tolist()
            raise ClassifierError(f"classifier {self.name} returned NaN or infinite scores for batch items "
                                  f"{bad[:10]}{' ...' if len(bad) > 10 else ''}")
        return out

    def _check_probs(self, p: torch.Tensor, rows_sum_to_one: bool):
        if not self.check_outputs:
            return
        with torch.no_grad():
            bad_range = (p < -1e-4).any() or (p > 1 + 1e-4).any()
            bad_sum = rows_sum_to_one and ((p.sum(1) - 1).abs() > 1e-3).any()
        if bad_range or bad_sum:
            raise ClassifierError(f"classifier {self.name} was declared output='probs' but returned scores "
                                  f"{'outside [0, 1]' if bad_range else 'whose rows do not sum to 1'} "
                                  f"(range {p.min().item():.3g}..{p.max().item():.3g}); "
                                  "declare output='logits' if it returns logits")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images [N, C, H, W] in [-1, 1] -> class logits [N, K] (softmax gives class probabilities)."""
        out = self._scores(images)
        tiny = torch.finfo(out.dtype).tiny
        if self.kind == "sigmoid":
            if out.shape[1] > 1 and self.output_index is None:
                raise ClassifierError(f"sigmoid classifier {self.name} has {out.shape[1]} outputs; "
                                      f"choose one with output_index= (0..{out.shape[1] - 1})")
            if self.output_index is not None:
                if not 0 <= self.output_index < out.shape[1]:
                    raise ClassifierError(f"output_index={self.output_index} is out of range for "
                                          f"{out.shape[1]} outputs of {self.name}")
                out = out[:, self.output_index:self.output_index + 1]
            if self.output == "logits":
                return torch.cat([torch.zeros_like(out), out], 1)
            self._check_probs(out, rows_sum_to_one=False)
            p = out.clamp(0, 1)
            return torch.cat([torch.log((1 - p).clamp_min(tiny)), torch.log(p.clamp_min(tiny))], 1)
        if self.output == "probs":
            self._check_probs(out, rows_sum_to_one=True)
            out = torch.log(out.clamp(tiny, 1))
        if self.class_names is not None and out.shape[1] != len(self.class_names):
            raise ClassifierError(f"classifier {self.name} returned {out.shape[1]} scores per image but "
                                  f"{len(self.class_names)} class names were given")
        self._num_classes = out.shape[1]
        return out

    def probs(self, images: torch.Tensor) -> torch.Tensor:
        return self(images).softmax(1)

    def log_probs(self, images: torch.Tensor) -> torch.Tensor:
        return self(images).log_softmax(1)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Most probable class index per image [N]."""
        return self(images).argmax(1)

    # -- features ----------------------------------------------------------------------------------------
    @property
    def has_features(self) -> bool:
        return self._feature_module is not None or self._features_method() is not None

    def _features_method(self):
        method = getattr(self.model, "features", None)
        # torchvision's VGG/AlexNet/DenseNet have a *submodule* named `features` (the conv trunk): not it.
        return method if callable(method) and not isinstance(method, nn.Module) else None

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate features [N, D] (``feature_layer`` output, else the model's ``features`` method)."""
        x = self.preprocess(images)
        if self._feature_module is not None:
            captured = []
            try:
                handle = self._feature_module.register_forward_hook(lambda m, i, o: captured.append(o))
            except (RuntimeError, AttributeError) as err:
                raise ClassifierError(f"cannot hook feature_layer {self.feature_layer!r} of {self.name} "
                                      f"(TorchScript modules do not support hooks): {err}") from err
            try:
                self.model(x)
            finally:
                handle.remove()
            if not captured or not torch.is_tensor(captured[-1]):
                raise ClassifierError(f"feature_layer {self.feature_layer!r} of {self.name} produced no "
                                      "tensor during the forward pass")
            feats = captured[-1]
        else:
            method = self._features_method()
            if method is None:
                raise ClassifierError(f"classifier {self.name} exposes no features: give it a `features(x)` "
                                      "method or name a layer with feature_layer='...'")
            feats = method(x)
        return feats.reshape(feats.shape[0], -1)

    # -- classes -----------------------------------------------------------------------------------------
    @property
    def num_classes(self) -> Optional[int]:
        """K, known from the class names, the kind, or after the first forward pass."""
        return self._num_classes

    def class_name(self, index: int) -> str:
        index = self.class_index(index)
        return self.class_names[index] if self.class_names else str(index)

    def class_index(self, name_or_index: Union[int, str]) -> int:
        """Class index from an int, a digit string ('3') or a class name (case-insensitive)."""
        valid = (f"valid classes: {', '.join(f'{i}={n}' for i, n in enumerate(self.class_names))}"
                 if self.class_names else
                 f"valid indices: 0..{self._num_classes - 1}" if self._num_classes else "")
        value = name_or_index
        if isinstance(value, str):
            text = value.strip()
            if re.fullmatch(r"\d+", text):
                value = int(text)
            elif self.class_names:
                lowered = [n.lower() for n in self.class_names]
                if text.lower() in lowered:
                    return lowered.index(text.lower())
                raise ValueError(f"unknown class {value!r}; {valid}")
            else:
                raise ValueError(f"class {value!r} is not an index and classifier {self.name} has no class "
                                 f"names{'; ' + valid if valid else ''}")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"a class must be an int or a name, got {type(value).__name__}")
        value = int(value)
        if value < 0 or (self._num_classes is not None and value >= self._num_classes):
            raise ValueError(f"class index {value} is out of range; {valid}")
        return value

    # -- description -------------------------------------------------------------------------------------
    @property
    def preprocessing(self) -> Dict[str, Any]:
        return dict(input_range=list(self.input_range), size=list(self.size) if self.size else None,
                    channels=self.channels,
                    mean=self.mean.flatten().tolist() if self.mean is not None else None,
                    std=self.std.flatten().tolist() if self.std is not None else None)

    def describe_preprocessing(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.preprocessing.items() if v is not None)

    def describe(self) -> Dict[str, Any]:
        """Facts shown by ``cfgan info``."""
        return dict(name=self.name, kind=self.kind, output=self.output, num_classes=self._num_classes,
                    class_names=self.class_names, has_gradients=self.has_gradients,
                    has_features=self.has_features, preprocessing=self.preprocessing,
                    parameters=sum(p.numel() for p in self.model.parameters()), meta=self.meta)


# -- classifier files --------------------------------------------------------------------------------------
def save_classifier(path, model: nn.Module, arch: str, arch_kwargs: Optional[dict] = None,
                    preprocessing: Optional[dict] = None, class_names: Optional[Sequence[str]] = None,
                    meta: Optional[dict] = None, kind: str = "softmax", output: str = "logits") -> Path:
    """Write ``model`` (an instance of registered architecture ``arch``) as a cfgan classifier file.

    The file holds only tensors and plain values, so ``torch.load(weights_only=True)`` reads it.
    """
    from cfgan.models import ARCHITECTURES

    if arch not in ARCHITECTURES:
        raise ValueError(f"architecture {arch!r} is not registered "
                         f"(known: {', '.join(sorted(ARCHITECTURES))})")
    pre = dict(input_range=[-1.0, 1.0], size=None, channels=None, mean=None, std=None)
    pre.update(preprocessing or {})
    payload = {
        "format": CLASSIFIER_FORMAT, "version": CLASSIFIER_FORMAT_VERSION,
        "arch": arch, "arch_kwargs": dict(arch_kwargs or {}),
        "state_dict": {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()},
        "preprocessing": pre, "class_names": list(class_names) if class_names is not None else None,
        "kind": kind, "output": output, "meta": dict(meta or {}),
    }
    return torch_save(payload, path)


def _classifier_from_payload(payload: dict, path: Path, map_location, **overrides) -> Classifier:
    from cfgan.models import build_architecture

    version = payload.get("version")
    if not isinstance(version, int) or version > CLASSIFIER_FORMAT_VERSION:
        raise ValueError(f"{path} is a cfgan classifier file of version {version!r}; this cfgan reads "
                         f"version {CLASSIFIER_FORMAT_VERSION} (upgrade cfgan)")
    missing = [k for k in ("arch", "state_dict") if k not in payload]
    if missing:
        raise ValueError(f"{path} is a damaged cfgan classifier file: missing {', '.join(missing)}")
    try:
        model = build_architecture(payload["arch"], **(payload.get("arch_kwargs") or {}))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{path}: weights do not fit architecture {payload['arch']!r}: {err}") from err
    settings = {k: v for k, v in (payload.get("preprocessing") or {}).items() if v is not None}
    for key in ("kind", "output", "class_names"):
        if payload.get(key) is not None:
            settings[key] = payload[key]
    settings.setdefault("name", Path(path).stem)
    settings.update(overrides)
    classifier = Classifier(model, **settings)
    classifier.meta = dict(payload.get("meta") or {}, file=str(path))
    if map_location is not None:
        classifier.to(map_location)
    return classifier


def load_classifier_file(path, map_location=None, **overrides) -> Classifier:
    """Load a cfgan classifier file or a TorchScript file; never unpickles code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"classifier file {path} does not exist")
    if is_torchscript(path):
        try:
            with warnings.catch_warnings():  # torch >= 2.9 deprecates TorchScript; loading still works
                warnings.simplefilter("ignore", FutureWarning)
                model = torch.jit.load(str(path), map_location=map_location)
        except RuntimeError as err:
            raise ValueError(f"{path} is a damaged TorchScript file: {err}") from err
        overrides.setdefault("name", path.stem)
        return Classifier(model, **overrides)
    try:
        payload = torch_load(path)
    except CheckpointError as err:
        detail = str(err).replace(f"{path}: ", "").replace(f"{path} ", "")
        raise ValueError(f"{path} is not a loadable classifier file ({detail}). cfgan reads cfgan classifier "
                         "files (cfgan.classifiers.save_classifier) and TorchScript files (torch.jit.script/trace "
                         "+ save); it never unpickles model objects") from None
    if isinstance(payload, dict) and payload.get("format") == CLASSIFIER_FORMAT:
        return _classifier_from_payload(payload, path, map_location, **overrides)
    if isinstance(payload, dict) and payload and all(torch.is_tensor(v) for v in payload.values()):
        raise ValueError(f"{path} holds a bare state_dict without its architecture: build the model in "
                         "Python and pass it, or save it with cfgan.classifiers.save_classifier")
    raise ValueError(f"{path} is not a cfgan classifier file (no format='{CLASSIFIER_FORMAT}' entry)")


def _required_params(fn) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.default is p.empty and p.kind in positional for p in params)


def _from_object(obj, spec: str, **kwargs) -> Classifier:
    if isinstance(obj, Classifier):
        if kwargs:
            raise ValueError(f"{spec} is already a Classifier; its preprocessing cannot be overridden")
        return obj
    if inspect.isclass(obj) and issubclass(obj, nn.Module):
        obj = obj()
    elif callable(obj) and not isinstance(obj, nn.Module) and _required_params(obj) == 0:
        obj = obj()  # a factory such as torchvision.models:resnet18
        if not isinstance(obj, nn.Module):
            raise ValueError(f"classifier spec {spec!r}: the factory returned {type(obj).__name__}, "
                             "not an nn.Module")
    if isinstance(obj, Classifier):
        return _from_object(obj, spec, **kwargs)
    if not (isinstance(obj, nn.Module) or callable(obj)):
        raise ValueError(f"classifier spec {spec!r} names a {type(obj).__name__}, not a model or a callable")
    kwargs.setdefault("name", spec.rsplit(":", 1)[-1])
    return Classifier(obj, **kwargs)


def load_classifier(spec, device=None, **kwargs) -> Classifier:
    """Build a ``Classifier`` from whatever the user has.

    ``spec`` may be a ``Classifier`` (returned as is), an ``nn.Module``, a plain callable on numpy arrays,
    ``"zoo:NAME"`` (bundled, checksum-verified), a path to a cfgan classifier file or TorchScript file, or
    ``"pkg.module:attr"`` / ``"file.py:attr"`` naming a module, a module class, a no-argument factory, or a
    numpy callable. ``kwargs`` are ``Classifier`` options and override those stored in a file.
    """
    if isinstance(spec, Classifier):
        if kwargs:
            raise ValueError("spec is already a Classifier; its preprocessing cannot be overridden")
        classifier = spec
    elif isinstance(spec, nn.Module) or (callable(spec) and not isinstance(spec, (str, Path))):
        classifier = Classifier(spec, **kwargs)
    elif isinstance(spec, (str, Path)):
        text = str(spec)
        if text.startswith("zoo:"):
            from cfgan.zoo import CLASSIFIERS

            classifier = load_classifier_file(CLASSIFIERS.path(text), **kwargs)
        elif Path(text).is_file():
            classifier = load_classifier_file(text, **kwargs)
        elif is_object_spec(text):
            classifier = _from_object(import_object(text, "classifier"), text, **kwargs)
        else:
            from cfgan.zoo import CLASSIFIERS

            raise FileNotFoundError(
                f"classifier {text!r} is neither an existing file nor a 'package.module:attr' spec; bundled "
                f"classifiers: {', '.join('zoo:' + n for n in CLASSIFIERS.names())}")
    else:
        raise TypeError(f"cannot make a classifier from a {type(spec).__name__}")
    return classifier.to(device) if device is not None else classifier
