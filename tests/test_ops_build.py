"""Compile the CUDA sources of generators.ops from scratch (no GPU needed, only nvcc) and check the module."""
import os
import shutil
import time

import pytest
import torch

from generators.ops import plugin

pytestmark = pytest.mark.slow


def _nvcc():
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    candidate = os.path.join(home, "bin", "nvcc")
    return candidate if os.path.exists(candidate) else shutil.which("nvcc")


@pytest.mark.skipif(_nvcc() is None, reason="nvcc not found")
@pytest.mark.skipif(torch.version.cuda is None, reason="this torch build has no CUDA support")
def test_sources_compile_into_a_module_with_every_op(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    if not torch.cuda.is_available() and not os.environ.get("TORCH_CUDA_ARCH_LIST"):
        monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "9.0")  # one architecture keeps the build short
    # build() records its module as the active plugin; keep whatever this process had before
    monkeypatch.setattr(plugin, "_module", plugin._module)
    monkeypatch.setattr(plugin, "_error", plugin._error)
    # build() points torch (and the environment) at the toolkit it found; undo that afterwards
    from torch.utils import cpp_extension
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", cpp_extension.CUDA_HOME)
    for variable in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(variable):
            monkeypatch.setenv(variable, os.environ[variable])
        else:  # set-then-delete makes monkeypatch remember that it was unset
            monkeypatch.setenv(variable, "unset")
            monkeypatch.delenv(variable)

    start = time.perf_counter()
    module = plugin.build()
    elapsed = time.perf_counter() - start
    print(f"\ncompiled {module.__name__} in {elapsed:.1f} s (TORCH_CUDA_ARCH_LIST="
          f"{os.environ.get('TORCH_CUDA_ARCH_LIST')})")
    for name in plugin.EXPECTED_FUNCTIONS:
        assert callable(getattr(module, name, None)), f"compiled module lacks {name}"
    library = tmp_path / plugin.module_name() / f"{plugin.module_name()}.so"
    built_at = library.stat().st_mtime_ns
    assert plugin.build() is not None  # second call: a cache hit, nothing is compiled again
    assert library.stat().st_mtime_ns == built_at
