"""In-fillers: what a dropped pixel becomes. FIDO's answer is the generative one: content from the GAN,
consistent with the pixels still visible.

Each in-filler is prepared once per batch of images (``prepare``) and then asked, inside the mask
optimisation, for in-fills of items (``fill(image index [n], keep [n, 1, H, W], uniform [n, C, H, W])``):
``keep`` is the mask of kept pixels the in-fill must agree with, ``uniform`` the item's U(0, 1) draws.
In-fills carry no gradient: FIDO's mask gradient flows through the blend ``keep * x + (1 - keep) * fill``.

Generative in-fill, two ways:

- ``GanProjectionInfill`` ('gan-project', the exact reference): projects the image's kept pixels into the
  generator's W+ (``inversion.project`` with the mask) for every in-fill, starting from w_avg and then from
  the image's previous in-fill code (``latents`` replace w_avg). One generator optimisation per in-fill: far
  too slow for the mask loop (see the README's numbers).
- ``GanBankInfill`` ('gan', amortised): renders a bank of B generator samples once, before the loop; the
  in-fill then comes from the ``neighbours`` bank samples closest to the image on the currently kept pixels
  (mask-weighted squared distance), without a generator call inside the loop. By default (``blend`` = 0.2,
  a temperature) it is their mean weighted by exp(-(d - d_min) / (blend * d_min)): an estimate of the
  posterior mean E[dropped | kept]. With ``blend=None`` it is one of them, drawn by the item's uniform: a
  sample from the empirical posterior. On real test images the blend is the closer of the two, nearly as
  close as a 50-step masked projection (``scripts/bench_infill.py``; numbers in the README).
  ``bank_source='prior'`` (default) draws the bank from the generator's prior, shared by all images: nothing
  about the dropped pixels can leak into their in-fill. ``'image'`` jitters the image's own W+ projection (or
  ``latents``) instead: closer in-fills, but the projection has seen the dropped pixels, so they partly come
  back (a smallest sufficient region can then look sufficient because the in-filler remembers the rest).
"""
from __future__ import annotations

import warnings
from typing import Optional

import torch

from cfgan.am.generator_am import frozen
from cfgan.am.pixel_am import gaussian_blur


class Infiller:
    """Base: mean colour, blur and noise need only the images; the GAN in-fillers a generator."""

    name = "?"

    def prepare(self, x: torch.Tensor) -> None:
        self.x = x

    def fill(self, image: torch.Tensor, keep: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def apply(self, x: torch.Tensor, keep: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """``keep * x + (1 - keep) * in-fill`` for images x [N, C, H, W] and keep masks [N or 1, 1, H, W]: the
        one-call use outside a mask optimisation (e.g. flipping pixels to GAN in-fill in a faithfulness test)."""
        self.prepare(x)
        keep = keep.to(x.device, x.dtype).expand(len(x), 1, -1, -1)
        uniform = torch.rand(x.shape, generator=torch.Generator().manual_seed(int(seed)))
        with torch.no_grad():
            fill = self.fill(torch.arange(len(x)), keep, uniform).to(x.device)
        return keep * x + (1 - keep) * fill


class MeanInfill(Infiller):
    """Each image's mean colour (per channel)."""

    name = "mean"

    def prepare(self, x):
        super().prepare(x)
        self.colour = x.mean((2, 3), keepdim=True).expand_as(x)

    def fill(self, image, keep, uniform):
        return self.colour[image.to(self.x.device)]


class BlurInfill(Infiller):
    """The image blurred with a Gaussian of ``sigma`` px (default 1/8 of the image side): local mean colour."""

    name = "blur"

    def __init__(self, sigma: Optional[float] = None):
        self.sigma = sigma

    def prepare(self, x):
        super().prepare(x)
        sigma = self.sigma if self.sigma is not None else max(1.0, min(x.shape[-2:]) / 8)
        self.blurred = gaussian_blur(x, sigma)

    def fill(self, image, keep, uniform):
        return self.blurred[image.to(self.x.device)]


class NoiseInfill(Infiller):
    """Uniform noise over the pixel range [-1, 1], fresh for every item and step."""

    name = "noise"

    def fill(self, image, keep, uniform):
        return (uniform.to(self.x.device) * 2 - 1)


def _masked_distances(x: torch.Tensor, keep: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """Mean squared difference on kept pixels between each item [n, C, H, W] (mask [n, 1, H, W]) and each bank
    image: [n, B] from a shared bank [B, C, H, W] or a per-item bank [n, B, C, H, W]."""
    w = keep.expand_as(x).flatten(1)
    xf = x.flatten(1)
    total = w.sum(1, keepdim=True).clamp_min(1e-6)
    if bank.dim() == 4:
        b = bank.flatten(1)
        d = (w * xf * xf).sum(1, keepdim=True) - 2 * (w * xf) @ b.T + w @ (b * b).T
    else:
        b = bank.flatten(2)
        d = ((xf.unsqueeze(1) - b) ** 2 * w.unsqueeze(1)).sum(2)
    return d.clamp_min(0) / total


class GanBankInfill(Infiller):
    """Amortised GAN in-fill: the nearest of a bank of generator samples on the kept pixels (see module doc)."""

    name = "gan"

    def __init__(self, G, bank: int = 256, neighbours: int = 32, source: str = "prior", seed: int = 0,
                 truncation: float = 1.0, jitter: float = 0.5, latents=None, project_steps: int = 100,
                 max_batch: Optional[int] = None, cache: Optional[dict] = None, blend: Optional[float] = 0.2):
        if blend is not None and (isinstance(blend, bool) or not isinstance(blend, (int, float)) or not blend > 0):
            raise ValueError(f"option blend must be a temperature > 0 or None, got {blend!r}")
        self.G, self.size, self.neighbours, self.source, self.blend = G, bank, neighbours, source, blend
        self.seed, self.truncation, self.jitter = seed, truncation, jitter
        self.latents, self.project_steps, self.max_batch = latents, project_steps, max_batch
        self.cache = {} if cache is None else cache  # a caller's dict keeps the prior bank across calls

    def _render(self, ws: torch.Tensor) -> torch.Tensor:
        step = len(ws) if self.max_batch is None else self.max_batch
        with torch.no_grad(), frozen(self.G):
            return torch.cat([self.G.synthesis(ws[i:i + step]) for i in range(0, len(ws), step)]).clamp(-1, 1)

    def prior_bank(self) -> torch.Tensor:
        """B samples from the generator's prior (seeded; made once and reused for every image)."""
        key = ("prior", self.size, self.seed, self.truncation)
        if key not in self.cache:
            with torch.no_grad():
                z = self.G.sample_z(self.size, self.seed)
                ws = self.G.mapping(z, None, truncation_psi=self.truncation)
            self.cache[key] = self._render(ws)
        return self.cache[key]

    def image_bank(self, x: torch.Tensor) -> torch.Tensor:
        """[N, B, C, H, W]: B jittered renders around each image's W+ code (projected once, or ``latents``)."""
        from inversion.latents import latent_stats

        ws = image_codes(self.G, x, self.latents, self.project_steps, self.seed, self.max_batch)
        scale = self.jitter * latent_stats(self.G, "w+").coord_std
        banks = []
        for i in range(len(ws)):
            g = torch.Generator().manual_seed(self.seed + i)
            levels = torch.linspace(0, 1, self.size).reshape(-1, 1, 1)  # from the projection itself outwards
            eps = torch.randn((self.size, *ws.shape[1:]), generator=g) * levels * scale
            banks.append(self._render(ws[i:i + 1] + eps.to(ws.device)))
        return torch.stack(banks)

    def prepare(self, x):
        super().prepare(x)
        check_generator_images(self.G, x)
        self.bank = self.prior_bank() if self.source == "prior" else self.image_bank(x)

    def fill(self, image, keep, uniform):
        image = image.to(self.x.device)
        x = self.x[image]
        bank = self.bank if self.bank.dim() == 4 else self.bank[image]
        d = _masked_distances(x, keep, bank)
        k = min(self.neighbours, d.shape[1])
        distance, nearest = d.topk(k, dim=1, largest=False)  # [n, k], closest first
        if self.blend is not None:
            weights = torch.softmax(-(distance - distance[:, :1]) / (self.blend * distance[:, :1].clamp_min(1e-6)), 1)
            picked = bank[nearest] if bank.dim() == 4 else bank[torch.arange(len(image), device=d.device)[:, None],
                                                                  nearest]
            return (weights[:, :, None, None, None] * picked).sum(1)
        pick = (uniform.flatten(1)[:, 0].to(d.device) * k).long().clamp_max(k - 1)
        chosen = nearest.gather(1, pick[:, None]).squeeze(1)
        return bank[chosen] if bank.dim() == 4 else bank[torch.arange(len(image), device=d.device), chosen]


class GanProjectionInfill(Infiller):
    """Exact GAN in-fill: a masked projection of the kept pixels per in-fill (warm-started; slow reference)."""

    name = "gan-project"

    def __init__(self, G, project_steps: int = 100, seed: int = 0, latents=None, max_batch: Optional[int] = None):
        self.G, self.steps, self.seed, self.latents, self.max_batch = G, project_steps, seed, latents, max_batch

    def prepare(self, x):
        super().prepare(x)
        check_generator_images(self.G, x)
        if self.latents is not None:
            self.codes = image_codes(self.G, x, self.latents, self.steps, self.seed, self.max_batch)
        else:  # from w_avg: a projection of the whole image would have seen the pixels to be in-filled
            self.codes = self.G.w_avg.detach().reshape(1, 1, -1).repeat(len(x), self.G.num_ws, 1).to(x.device)

    def fill(self, image, keep, uniform):
        from inversion.latents import LatentCode
        from inversion.project import project

        image = image.to(self.x.device)
        start = LatentCode("w+", self.codes[image].clone())
        with frozen(self.G), torch.enable_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="LPIPS")  # its closing metrics only; the fit is pixel MSE
            result = project(self.G, self.x[image], mask=(keep > 0.5).float(), start=start, space="w+",
                             steps=self.steps, losses={"mse": 1.0}, latent_noise=0.0, seed=self.seed,
                             memory=self.max_batch)
        self.codes[image] = result.code.values.detach()
        return result.images.detach().clamp(-1, 1)


def check_generator_images(G, x: torch.Tensor) -> None:
    expected = (G.channels, G.resolution, G.resolution)
    if tuple(x.shape[1:]) != expected:
        raise ValueError(f"inputs have shape {tuple(x.shape[1:])} but the in-filling generator makes {expected} "
                         "(C, H, W); resize the images or use infill='blur'")


def image_codes(G, x: torch.Tensor, latents, steps: int, seed: int, max_batch: Optional[int]) -> torch.Tensor:
    """W+ codes [N, num_ws, w_dim] of the images: ``latents`` (a LatentCode, a W+ tensor or the path of a
    latent file written by ``cfgan invert``) or a projection."""
    from inversion.io import load_latents
    from inversion.latents import LatentCode
    from inversion.project import project

    if isinstance(latents, (str, bytes)) or hasattr(latents, "__fspath__"):
        latents = load_latents(str(latents), G)[0]
    if latents is not None:
        code = latents if isinstance(latents, LatentCode) else LatentCode("w+", torch.as_tensor(latents))
        if len(code) != len(x):
            raise ValueError(f"option latents has {len(code)} codes for {len(x)} images")
        return code.to_space(G, "w+").values.detach().to(x.device)
    with frozen(G), torch.enable_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LPIPS")  # its closing metrics only; the fit is pixel MSE
        result = project(G, x, space="w+", steps=steps, losses={"mse": 1.0}, seed=seed, memory=max_batch)
    return result.code.values.detach()


def make_infiller(name: str, G=None, seed: int = 0, max_batch: Optional[int] = None, cache: Optional[dict] = None,
                  **options) -> Infiller:
    """An in-filler by name: 'mean', 'blur', 'noise', 'gan' (amortised bank) or 'gan-project' (exact).
    ``cache``: a dict the caller keeps, so the GAN's prior bank is rendered once for all calls."""
    if name == "mean":
        return MeanInfill()
    if name == "blur":
        return BlurInfill(options.get("sigma"))
    if name == "noise":
        return NoiseInfill()
    if name in ("gan", "gan-project") and G is None:
        raise ValueError(f"infill={name!r} needs a generator (generator=...)")
    if name == "gan":
        return GanBankInfill(G, bank=options.get("bank", 256), neighbours=options.get("neighbours", 32),
                             source=options.get("bank_source", "prior"), seed=seed,
                             truncation=options.get("truncation", 1.0), latents=options.get("latents"),
                             project_steps=options.get("project_steps", 100), max_batch=max_batch, cache=cache,
                             blend=options.get("blend", 0.2))
    if name == "gan-project":
        return GanProjectionInfill(G, project_steps=options.get("project_steps", 100), seed=seed,
                                   latents=options.get("latents"), max_batch=max_batch)
    raise ValueError(f"unknown infill {name!r}; valid: mean, blur, noise, gan, gan-project")
