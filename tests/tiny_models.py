"""The tiny untrained StyleGAN2s most method tests run on (imported by the test modules)."""
import torch

import generators


def make_tiny_generator(dim: int = 32, resolution: int = 16, seed: int = 0,
                        noise_strength: float = 0.0) -> generators.StyleGAN2Generator:
    """A seeded, untrained StyleGAN2 small enough that a test optimises it in well under a second.

    ``dim`` is both the latent width and the widest feature map, so one knob sizes the whole network.
    ``noise_strength``: trained generators use their noise inputs; fresh ones start at 0.
    """
    torch.manual_seed(seed)
    G = generators.StyleGAN2Generator(
        z_dim=dim, c_dim=0, w_dim=dim, img_resolution=resolution, img_channels=1,
        mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=16 * dim, channel_max=dim))
    if noise_strength:
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.data.fill_(noise_strength)
    return G


def tiny_classifier(resolution: int = 16, classes: int = 4, seed: int = 0) -> torch.nn.Module:
    """A seeded, untrained CNN on [N, 1, resolution, resolution] images: any classifier cfgan must handle."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(resolution // 4),
        torch.nn.Flatten(), torch.nn.Linear(4 * 16, classes)).eval()


#: ``file.py:attr`` spec of ``tiny_classifier``, for command-line tests
TINY_CLASSIFIER_SPEC = f"{__file__}:tiny_classifier"
class LinearGenerator(generators.Generator):
    """A generator that is linear end to end, so edits have exact expected effects.

    mapping: w = A z + b (the same w on every row); synthesis: W+ row l fills pixel row l of an image
    (``num_ws`` x ``w_dim`` pixels, scaled by ``gain``). A classifier linear in pixels is then linear in W+.
    """

    def __init__(self, w_dim: int = 8, num_ws: int = 4, gain: float = 0.25, scales=None, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.z_dim = self.w_dim = w_dim
        self.num_ws, self.resolution, self.channels = num_ws, max(num_ws, w_dim), 1
        a = torch.linalg.qr(torch.randn(w_dim, w_dim, generator=g))[0]
        if scales is not None:
            a = a * torch.as_tensor(scales, dtype=torch.float32)[None, :]
        self.register_buffer("A", a)
        self.register_buffer("b", 0.1 * torch.randn(w_dim, generator=g))
        self.gain = gain

    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
        w = z @ self.A.T + self.b
        w = self.b + truncation_psi * (w - self.b)
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)

    def synthesis(self, ws, noise_mode="const", noise=None):
        img = ws.new_zeros(ws.shape[0], 1, self.resolution, self.resolution)
        img[:, 0, :self.num_ws, :self.w_dim] = self.gain * ws
        return img

    @property
    def w_avg(self):
        return self.b


class PixelLinear(torch.nn.Module):
    """Two classes: log-odds of class 1 = k * (v . pixels - bias), exactly linear in the image."""

    def __init__(self, pixels: int, seed: int = 1, k: float = 4.0, bias: float = 0.0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.v = torch.nn.Parameter(torch.randn(pixels, generator=g) / pixels ** 0.5)
        self.k, self.bias = k, bias

    def forward(self, x):
        s = self.k * (x.flatten(1) @ self.v - self.bias)
        return torch.stack([torch.zeros_like(s), s], 1)


def tiny_judge() -> torch.nn.Module:
    """Another seeded, untrained CNN like ``tiny_classifier``: an independent judge for the tiny models."""
    return tiny_classifier(seed=3)


#: ``file.py:attr`` spec of ``tiny_judge``
TINY_JUDGE_SPEC = f"{__file__}:tiny_judge"
