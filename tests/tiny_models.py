"""The tiny untrained StyleGAN2s most method tests run on (imported by the test modules)."""
import torch

import generators


def make_tiny_generator(dim: int = 32, resolution: int = 16, seed: int = 0) -> generators.StyleGAN2Generator:
    """A seeded, untrained StyleGAN2 small enough that a test optimises it in well under a second.

    ``dim`` is both the latent width and the widest feature map, so one knob sizes the whole network.
    """
    torch.manual_seed(seed)
    return generators.StyleGAN2Generator(
        z_dim=dim, c_dim=0, w_dim=dim, img_resolution=resolution, img_channels=1,
        mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=16 * dim, channel_max=dim))


def tiny_classifier(resolution: int = 16, classes: int = 4, seed: int = 0) -> torch.nn.Module:
    """A seeded, untrained CNN on [N, 1, resolution, resolution] images: any classifier cfgan must handle."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(resolution // 4),
        torch.nn.Flatten(), torch.nn.Linear(4 * 16, classes)).eval()


#: ``file.py:attr`` spec of ``tiny_classifier``, for command-line tests
TINY_CLASSIFIER_SPEC = f"{__file__}:tiny_classifier"
