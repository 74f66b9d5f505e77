"""Any z -> image ``nn.Module`` (DCGAN and friends) behind the ``Generator`` interface.

The module is named as ``"package.module:attr"`` (an instance, a class or a zero-argument factory: this
imports Python code the user chose, like any import) or given as a TorchScript file, which
``torch.jit.load`` reads without running Python from it. Such generators have no mapping network, so only
the ``z`` space exists.
"""
from __future__ import annotations

import inspect
import os
import warnings
from typing import Optional, Sequence, Tuple

import torch
from torch import nn

from generators.base import Generator
from generators.importing import SpecError, import_object
from generators.loaders.errors import CheckpointError

#: attribute names under which z -> image modules commonly state their latent size.
Z_DIM_ATTRIBUTES = ("z_dim", "nz", "latent_dim", "latent_size", "nz_dim")
#: latent sizes tried, after the module's own hints, when nothing states it.
PROBE_Z_DIMS = (512, 256, 128, 100, 64, 32, 16, 8)


def _first_layer_width(module: nn.Module) -> Optional[int]:
    """Input width of the first Linear / (transposed) convolution: usually the latent size."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            return layer.in_features
        if isinstance(layer, (nn.ConvTranspose2d, nn.Conv2d)):
            return layer.in_channels
    return None


class ModuleGenerator(Generator):
    """Wraps ``net`` (z [N, z_dim] or [N, z_dim, 1, 1] -> images [N, C, R, R]) as a Z-only generator.

    ``output_range`` is the range ``net`` produces ((-1, 1) for tanh outputs, (0, 1) for sigmoid); images
    are rescaled to [-1, 1]. ``z_dim`` is taken from the argument, a ``z_dim``/``nz``/``latent_dim``
    attribute, or probing. Resolution and channels come from one probe forward pass.
    """

    spaces = ("z",)
    c_dim = 0
    w_dim = 0
    num_ws = 0

    def __init__(self, net: nn.Module, z_dim: Optional[int] = None,
                 output_range: Tuple[float, float] = (-1.0, 1.0), name: str = "module"):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise TypeError(f"{name}: expected a torch.nn.Module, got {type(net).__name__}")
        low, high = (float(v) for v in output_range)
        if not high > low:
            raise ValueError(f"output_range must be (low, high) with high > low, got {output_range!r}")
        self.net = net.eval()
        self.name = name
        self.output_range = (low, high)
        self.z_dim, self.z_4d, probe = self._probe(z_dim)
        if probe.ndim != 4 or probe.shape[2] != probe.shape[3]:
            raise CheckpointError(f"{name}: the module must return square images [N, C, R, R], got shape "
                                  f"{list(probe.shape)}")
        self.channels = int(probe.shape[1])
        self.resolution = int(probe.shape[2])

    # -- probing -------------------------------------------------------------------------------------
    def _candidates(self, z_dim: Optional[int]) -> Sequence[int]:
        if z_dim is not None:
            return [int(z_dim)]
        values = [getattr(self.net, a, None) for a in Z_DIM_ATTRIBUTES]
        hints = [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0]
        width = _first_layer_width(self.net)
        found = hints + ([width] if width else []) + list(PROBE_Z_DIMS)
        return list(dict.fromkeys(found))

    @torch.no_grad()
    def _probe(self, z_dim: Optional[int]):
        z_dims = self._candidates(z_dim)
        errors = []
        device = self.device
        for size in z_dims:
            z = torch.randn(2, size, generator=torch.Generator().manual_seed(0)).to(device)
            for four_d in (False, True):
                try:
                    out = self.net(z[:, :, None, None] if four_d else z)
                except Exception as exc:  # any failure just rules this input shape out
                    errors.append(f"[N, {size}{', 1, 1' if four_d else ''}]: {type(exc).__name__}")
                    continue
                if torch.is_tensor(out) and out.shape[0] == 2:
                    return size, four_d, out
                errors.append(f"[N, {size}{', 1, 1' if four_d else ''}]: returned {type(out).__name__}")
        tried = "; ".join(errors[:6])
        hint = "" if z_dim is not None else " Pass z_dim explicitly."
        raise CheckpointError(f"{self.name}: could not run the module on a latent batch (tried {tried})."
                              f"{hint}")

    # -- interface ---------------------------------------------------------------------------------
    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
        raise NotImplementedError(f"{self.name} only has the Z space (a plain z -> image module): it has no "
                                  "mapping network, so W / W+ codes do not exist; call G(z)")

    def synthesis(self, ws, noise_mode="const", noise=None):
        raise NotImplementedError(f"{self.name} only has the Z space: use G(z) instead of synthesis(ws)")

    @property
    def w_avg(self) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} only has the Z space: there is no mean W code")

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None, noise_mode: str = "const") -> torch.Tensor:
        if c is not None:
            raise ValueError(f"{self.name} is unconditional (c_dim=0): pass c=None")
        if truncation_psi != 1.0:
            raise ValueError(f"{self.name} has no W space to truncate in: use truncation_psi=1")
        if not torch.is_tensor(z) or z.ndim != 2 or z.shape[1] != self.z_dim:
            shape = list(z.shape) if torch.is_tensor(z) else type(z).__name__
            raise ValueError(f"z must be a tensor of shape [N, {self.z_dim}], got {shape}")
        out = self.net(z[:, :, None, None] if self.z_4d else z).float()
        low, high = self.output_range
        if (low, high) != (-1.0, 1.0):
            out = (out - low) * (2.0 / (high - low)) - 1.0
        return out

    def describe(self) -> dict:
        return dict(super().describe(), module=self.name, output_range=list(self.output_range))


def load_module_spec(spec: str, z_dim: Optional[int] = None,
                     output_range: Tuple[float, float] = (-1.0, 1.0)) -> ModuleGenerator:
    """Generator from ``"package.module:attr"``: a module instance, a class or a zero-argument factory."""
    try:
        obj = import_object(spec, "generator")
    except SpecError as exc:
        raise CheckpointError(str(exc)) from None
    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise CheckpointError(f"{spec} is a {type(obj).__name__}, not an nn.Module, class or factory")
        try:
            obj = obj()
        except TypeError as exc:
            kind = "class" if inspect.isclass(obj) else "factory"
            raise CheckpointError(f"{spec}: the {kind} must be callable without arguments ({exc})") from None
        if not isinstance(obj, nn.Module):
            raise CheckpointError(f"{spec} returned a {type(obj).__name__}, not an nn.Module")
    return ModuleGenerator(obj, z_dim=z_dim, output_range=output_range, name=spec)


def load_torchscript(path, z_dim: Optional[int] = None,
                     output_range: Tuple[float, float] = (-1.0, 1.0)) -> ModuleGenerator:
    """Generator from a TorchScript file (``torch.jit.save``)."""
    source = os.fspath(path)
    try:
        with warnings.catch_warnings():  # torch >= 2.9 deprecates TorchScript; loading still works
            warnings.simplefilter("ignore", FutureWarning)
            net = torch.jit.load(source, map_location="cpu")
    except (RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{source} is truncated or corrupt (TorchScript load failed: "
                              f"{str(exc).splitlines()[0]})") from None
    return ModuleGenerator(net, z_dim=z_dim, output_range=output_range, name=source)
