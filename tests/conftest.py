"""Fixtures shared by the test modules: tiny generators (in memory and as files), one torch thread, and an
environment without the ops override."""
import pytest
import torch

import generators
from generators.ops import dispatch

from tiny_models import LinearGenerator, make_tiny_generator


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run far faster on one torch thread when other processes compete for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def G(request):
    """The module's tiny untrained StyleGAN2, frozen. A module picks its size and options with
    ``TINY_G = dict(dim=..., resolution=..., noise_strength=...)`` (default: dim 32, 16 px)."""
    return make_tiny_generator(**getattr(request.module, "TINY_G", {})).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def LG():
    """A linear generator (W+ [4 x 8] -> 8x8 image): edits and surrogates on it have exact expectations."""
    return LinearGenerator(w_dim=8, num_ws=4)


@pytest.fixture(scope="session")
def saved_generator(tmp_path_factory):
    """``saved_generator(dim=32)`` -> path of a tiny StyleGAN2 saved in cfgan's format (one file per size)."""
    cache = {}

    def make(dim: int = 32) -> str:
        if dim not in cache:
            path = tmp_path_factory.mktemp("generators") / f"tiny{dim}.pt"
            generators.save(make_tiny_generator(dim), str(path))
            cache[dim] = str(path)
        return cache[dim]

    return make


@pytest.fixture
def clean_ops_env(monkeypatch):
    """No ``CFGAN_OPS_IMPL`` override from the caller's shell: each test chooses the op path itself."""
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)


@pytest.fixture(scope="session")
def report_runs(tmp_path_factory, saved_generator):
    """Small real run folders for the report tests, each written by its command with the report on:
    {'cross': paths from two image files, 'invert', 'am', 'root': the folder holding them}."""
    from click.testing import CliRunner

    from cfgan.cli import main
    from cfgan.data import save_image

    from tiny_models import TINY_CLASSIFIER_SPEC

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("report_runs")
    gen = saved_generator(32)
    G = generators.load(gen)
    with torch.no_grad():
        images = G(G.sample_z(2, 7)).clamp(-1, 1)
    files = [str(save_image(img, root / f"subject{i}.png")) for i, img in enumerate(images)]
    common = ["-g", gen, "--device", "cpu"]
    commands = {
        "cross": ["cross", *files, *common, "-c", TINY_CLASSIFIER_SPEC, "--target", "1", "--source", "0",
                  "--frames", "5", "--method", "ascent", "--steps", "20", "--invert-steps", "10", "--no-lpips"],
        "invert": ["invert", *files, *common, "--steps", "5", "--loss", "mse=1"],
        "am": ["am", *common, "-c", TINY_CLASSIFIER_SPEC, "--class", "0", "--class", "2", "--restarts", "3",
               "--steps", "2", "--k", "4"],
    }
    runs = {"root": root}
    for name, args in commands.items():
        out = root / name
        result = CliRunner().invoke(main, [*args, "--out", str(out)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        runs[name] = out
    torch.set_num_threads(before)
    return runs
