"""``StyleGAN2Generator``: the mapping and synthesis networks behind the cfgan ``Generator`` interface.

Besides wiring the two halves together it owns what a user can get wrong: hyper-parameters (completed
with their defaults into a JSON-serialisable ``config``), latent and noise shapes, and noise modes.
"""
from __future__ import annotations

import inspect
import numbers
from typing import Optional, Sequence

import torch

from generators.base import Generator
from generators.stylegan2.mapping import MappingNetwork
from generators.stylegan2.synthesis import NOISE_MODES, SynthesisNetwork


def _jsonable(value):
    """Plain Python copy of a hyper-parameter (numpy scalars, tuples, tensors -> int/float/list)."""
    if torch.is_tensor(value):
        value = value.tolist()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _jsonable(value.tolist())
    raise TypeError(f"hyper-parameter value {value!r} of type {type(value).__name__} is not supported")


def _describe(x) -> str:
    return f"shape {list(x.shape)}" if torch.is_tensor(x) else type(x).__name__


def _complete_kwargs(cls, given: Optional[dict], owned: Sequence[str], what: str) -> dict:
    """``given`` with every other keyword of ``cls`` filled with its default, so the config is explicit.

    ``owned`` are the keywords the generator sets itself. Unknown keys are an error naming the argument.
    """
    given = dict(given or {})
    params = inspect.signature(cls.__init__).parameters
    defaults = {name: p.default for name, p in params.items() if name != "self" and name not in owned}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise TypeError(f"{what}: unknown argument(s) {unknown}; accepted: {sorted(defaults)}")
    return _jsonable({**defaults, **given})


class StyleGAN2Generator(Generator):
    """StyleGAN2 (ADA) generator computing the function of the official ``training.networks.Generator``.

    Takes the official hyper-parameters; ``state_dict()`` has the official keys, shapes and order, so an
    official state dict loads with ``strict=True``. ``config`` holds the JSON-serialisable keyword
    arguments that rebuild it: ``StyleGAN2Generator(**G.config)``.

    It starts in eval mode, as a pretrained model is used; ``.train()`` turns on ``w_avg`` tracking and
    the training form of the modulated convolutions.
    """

    spaces = ("z", "w", "w+")

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: Optional[dict] = None, synthesis_kwargs: Optional[dict] = None):
        super().__init__()
        for name, value in dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                                img_channels=img_channels).items():
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        mapping_kwargs = _complete_kwargs(MappingNetwork, mapping_kwargs,
                                          ("z_dim", "c_dim", "w_dim", "num_ws"), "mapping_kwargs")
        synthesis_kwargs = _complete_kwargs(SynthesisNetwork, synthesis_kwargs,
                                            ("w_dim", "img_resolution", "img_channels"), "synthesis_kwargs")
        self.config = dict(z_dim=int(z_dim), c_dim=int(c_dim), w_dim=int(w_dim),
                           img_resolution=int(img_resolution), img_channels=int(img_channels),
                           mapping_kwargs=mapping_kwargs, synthesis_kwargs=synthesis_kwargs)
        self.z_dim = int(z_dim)
        self.c_dim = int(c_dim)
        self.w_dim = int(w_dim)
        self.resolution = int(img_resolution)
        self.channels = int(img_channels)

        synthesis = SynthesisNetwork(w_dim=self.w_dim, img_resolution=self.resolution,
                                     img_channels=self.channels, **synthesis_kwargs)
        self.num_ws = synthesis.num_ws
        mapping = MappingNetwork(z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim, num_ws=self.num_ws,
                                 **mapping_kwargs)
        # Registered under the official names (keys ``mapping.*``, ``synthesis.*``). The interface's
        # ``mapping``/``synthesis`` methods take those attribute names, so the modules live in _modules
        # only; ``mapping_network``/``synthesis_network`` reach them.
        self._modules["synthesis"] = synthesis
        self._modules["mapping"] = mapping
        self.eval()

    @property
    def mapping_network(self) -> MappingNetwork:
        return self._modules["mapping"]

    @property
    def synthesis_network(self) -> SynthesisNetwork:
        return self._modules["synthesis"]

    # Official attribute names, for code written against stylegan2-ada-pytorch.
    @property
    def img_resolution(self) -> int:
        return self.resolution

    @property
    def img_channels(self) -> int:
        return self.channels

    # -- interface -------------------------------------------------------------------------------
    def mapping(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None, update_w_avg: bool = True) -> torch.Tensor:
        """Z [N, z_dim] (+ class vectors c [N, c_dim]) -> W+ [N, num_ws, w_dim].

        In training mode the running ``w_avg`` is updated unless ``update_w_avg=False`` (the official
        ``skip_w_avg_update``); in eval mode it never changes. Truncation pulls the first
        ``truncation_cutoff`` codes (all if None) towards ``w_avg``: ``w_avg + psi * (w - w_avg)``.
        """
        z, c = self._check_inputs(z, c)
        return self.mapping_network(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                                    update_w_avg=update_w_avg)

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const",
                  noise: Optional[Sequence[torch.Tensor]] = None, force_fp32: bool = False,
                  fused_modconv: Optional[bool] = None) -> torch.Tensor:
        """W+ [N, num_ws, w_dim] (or one W [N, w_dim] for every layer) -> images [N, C, R, R].

        ``noise_mode``: 'const' uses the stored noise maps, 'random' draws fresh ones from the global
        torch RNG, 'none' adds no noise. ``noise``: one map per entry of ``noise_shapes()``, shaped
        [1, 1, H, W] or [N, 1, H, W], replacing the stored/random maps (what inversion optimises).
        ``force_fp32`` disables the float16 blocks (``num_fp16_res``) on CUDA; off CUDA they always run in
        float32. ``fused_modconv`` None picks the official choice on CUDA and the faster split form on CPU.
        """
        ws = self._check_ws(ws)
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if noise is not None:
            if noise_mode == "none":
                raise ValueError("noise maps were given but noise_mode='none' disables noise")
            noise = self._check_noise(noise, ws.shape[0])
        force_fp32 = ws.device.type != "cuda" or bool(force_fp32)
        return self.synthesis_network(ws, noise_mode=noise_mode, noise=noise, force_fp32=force_fp32,
                                      fused_modconv=fused_modconv)

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None, noise_mode: str = "const",
                noise: Optional[Sequence[torch.Tensor]] = None) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, noise=noise)

    @property
    def w_avg(self) -> torch.Tensor:
        if self.mapping_network.w_avg_beta is None:
            raise AttributeError("this generator does not track w_avg (mapping_kwargs w_avg_beta=None)")
        return self.mapping_network.w_avg

    def noise_shapes(self) -> list:
        return [(1, 1, conv.resolution, conv.resolution) for conv in self.synthesis_network.noise_layers()]

    # -- validation --------------------------------------------------------------------------------
    def _check_inputs(self, z, c):
        if self.z_dim > 0:
            if not torch.is_tensor(z) or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(f"z must be a tensor of shape [N, {self.z_dim}], got {_describe(z)}")
        if self.c_dim == 0:
            if c is not None and (not torch.is_tensor(c) or c.numel() > 0):
                raise ValueError("this generator is unconditional (c_dim=0): pass c=None")
            return z, None
        if c is None:
            raise ValueError(f"this generator is conditional (c_dim={self.c_dim}): pass c, "
                             "e.g. G.one_hot(labels)")
        if not torch.is_tensor(c) or c.ndim != 2 or c.shape[1] != self.c_dim:
            raise ValueError(f"c must be a tensor of shape [N, {self.c_dim}] (see G.one_hot), got "
                             f"{_describe(c)}")
        if self.z_dim > 0 and c.shape[0] != z.shape[0]:
            raise ValueError(f"z and c batch sizes differ: {z.shape[0]} vs {c.shape[0]}")
        return z, c

    def _check_ws(self, ws):
        if torch.is_tensor(ws) and ws.ndim == 2 and ws.shape[1] == self.w_dim:
            return ws.unsqueeze(1).repeat([1, self.num_ws, 1])
        if not torch.is_tensor(ws) or ws.ndim != 3 or tuple(ws.shape[1:]) != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be a tensor of shape [N, {self.num_ws}, {self.w_dim}] "
                             f"(or [N, {self.w_dim}]), got {_describe(ws)}")
        return ws

    def _check_noise(self, noise, batch: int) -> list:
        shapes = self.noise_shapes()
        noise = list(noise)
        if len(noise) != len(shapes):
            raise ValueError(f"noise must list {len(shapes)} maps (see noise_shapes()), got {len(noise)}")
        for i, (n, shape) in enumerate(zip(noise, shapes)):
            if not torch.is_tensor(n) or n.ndim != 4 or tuple(n.shape[1:]) != shape[1:] or \
                    n.shape[0] not in (1, batch):
                raise ValueError(f"noise[{i}] must have shape {list(shape)} or "
                                 f"{[batch, *shape[1:]]}, got {_describe(n)}")
        return noise
