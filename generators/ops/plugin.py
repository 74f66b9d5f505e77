"""Lazy build and load of the one CUDA extension that holds the kernels of every op.

Why this shape: compiling takes minutes, so it happens on the first CUDA call (never at import) and the
result is cached on disk under a name derived from the sources and build settings; a failed build must
never end the user's job, so ``get()`` warns once and returns None, and the callers use the reference path.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Optional

import torch

SOURCE_DIR = Path(__file__).resolve().parent / "cuda"
SOURCES = ("bindings.cpp", "bias_act.cu", "upfirdn2d.cu")
HEADERS = ("ops.h",)
EXPECTED_FUNCTIONS = ("bias_act", "upfirdn2d")
EXTRA_CFLAGS = ("-O2",)
EXTRA_CUDA_CFLAGS = ()  # no --use_fast_math on purpose: we want the kernels to agree with the reference path
BUILD_LOCK_TIMEOUT_S = 30 * 60
STALE_LOCK_AGE_S = 5 * 60

_lock = threading.RLock()
_module = None
_error: Optional[str] = None
_warned = False


# -- environment ---------------------------------------------------------------------------------
def _has_toolkit(root: Optional[str]) -> bool:
    return bool(root) and os.path.isfile(os.path.join(root, "include", "cuda_runtime.h")) \
        and os.path.isfile(os.path.join(root, "bin", "nvcc"))


def find_cuda_home() -> Optional[str]:
    """The CUDA toolkit root: the first candidate that really holds ``bin/nvcc`` and ``include/cuda_runtime.h``.

    Why not trust torch's guess: torch takes the parent of whatever ``nvcc`` is on PATH, and a wrapper
    script such as ``/usr/local/bin/nvcc`` makes that ``/usr/local``, where the headers are missing.
    An explicit CUDA_HOME/CUDA_PATH that lacks the toolkit is an error the user must hear about.
    """
    from torch.utils import cpp_extension

    for variable in ("CUDA_HOME", "CUDA_PATH"):
        explicit = os.environ.get(variable)
        if explicit:
            if not _has_toolkit(explicit):
                raise RuntimeError(f"{variable}={explicit} does not contain a CUDA toolkit "
                                   "(bin/nvcc and include/cuda_runtime.h expected)")
            return explicit
    candidates = [cpp_extension.CUDA_HOME, "/usr/local/cuda", *sorted(glob.glob("/usr/local/cuda-*"), reverse=True)]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.insert(1, os.path.dirname(os.path.dirname(os.path.realpath(nvcc))))
    return next((c for c in candidates if _has_toolkit(c)), None)


def _setup_environment() -> None:
    """Fill in TORCH_CUDA_ARCH_LIST from the visible GPU when the user left it unset (CUDA_HOME: see build)."""
    if not os.environ.get("TORCH_CUDA_ARCH_LIST") and torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        os.environ["TORCH_CUDA_ARCH_LIST"] = f"{major}.{minor}"


def build_root() -> Path:
    """Where compiled extensions are cached: $TORCH_EXTENSIONS_DIR, else a per-user cache dir."""
    root = os.environ.get("TORCH_EXTENSIONS_DIR")
    if root:
        return Path(root)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = f"torch{torch.__version__.split('+')[0]}_cu{(torch.version.cuda or 'none').replace('.', '')}"
    return cache / "cfgan" / "torch_extensions" / tag


def module_name() -> str:
    """Name that changes whenever the sources or build settings change, so a cache hit is always valid."""
    digest = hashlib.sha256()
    for name in SOURCES + HEADERS:
        digest.update(name.encode())
        digest.update((SOURCE_DIR / name).read_bytes())
    settings = [torch.__version__, str(torch.version.cuda), os.environ.get("TORCH_CUDA_ARCH_LIST", ""),
                *EXTRA_CFLAGS, *EXTRA_CUDA_CFLAGS]
    digest.update("\0".join(settings).encode())
    return f"cfgan_ops_{digest.hexdigest()[:12]}"


# -- locking -------------------------------------------------------------------------------------
@contextlib.contextmanager
def _exclusive(build_dir: Path, timeout_s: float = BUILD_LOCK_TIMEOUT_S):
    """Serialise cfgan builders with an OS lock that the kernel drops when its holder dies."""
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): rely on the age test in _remove_stale_lock
        yield False
        return
    with open(build_dir / "cfgan_build.flock", "a") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another process has been building the CUDA ops in {build_dir} for "
                                       f"over {timeout_s:.0f} s; giving up") from None
                time.sleep(1.0)
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _remove_stale_lock(build_dir: Path, serialised: bool) -> None:
    """Delete a torch build lock left behind by a killed build, which would otherwise block us forever.

    Only torch versions whose lock is a plain file (``FileBaton``) can leave such a file; newer ones use
    an OS lock that dies with its holder. While we hold ``_exclusive`` no other cfgan builder runs, so any
    file lock present is stale; without that guarantee we only trust its age.
    """
    from torch.utils import cpp_extension

    lock = build_dir / "lock"
    if not hasattr(cpp_extension, "FileBaton") or not lock.exists():
        return
    age = time.time() - lock.stat().st_mtime
    if serialised or age > STALE_LOCK_AGE_S:
        warnings.warn(f"removing stale build lock {lock} (age {age:.0f} s) left by an interrupted build",
                      RuntimeWarning, stacklevel=3)
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


# -- build and load ------------------------------------------------------------------------------
def build(verbose: bool = False):
    """Compile (or load from the cache) the extension and return it; raises on any failure."""
    global _module, _error
    _setup_environment()
    from torch.utils import cpp_extension

    cuda_home = find_cuda_home()
    if cuda_home is None:
        raise RuntimeError("CUDA toolkit not found: set CUDA_HOME to the directory that contains bin/nvcc "
                           "and include/cuda_runtime.h")
    # torch resolved its own guess at import time; every path it derives (nvcc, headers, libs) reads this
    cpp_extension.CUDA_HOME = cuda_home
    os.environ["CUDA_HOME"] = cuda_home
    name = module_name()
    build_dir = build_root() / name
    build_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(build_dir) as serialised:
        _remove_stale_lock(build_dir, serialised)
        module = cpp_extension.load(
            name=name, sources=[str(SOURCE_DIR / s) for s in SOURCES],
            # the toolkit's headers explicitly too, so the host compiler finds cuda_runtime.h whatever
            # include list torch derived before we corrected its CUDA_HOME
            extra_include_paths=[str(SOURCE_DIR), os.path.join(cuda_home, "include")],
            extra_cflags=list(EXTRA_CFLAGS), extra_cuda_cflags=list(EXTRA_CUDA_CFLAGS),
            build_directory=str(build_dir), verbose=verbose)
    missing = [f for f in EXPECTED_FUNCTIONS if not hasattr(module, f)]
    if missing:
        raise RuntimeError(f"built extension {name} lacks functions {missing}")
    with _lock:
        _module, _error = module, None
    return module


def _first_error_line(message: str) -> str:
    """The line of a (possibly long compiler) error message that says what went wrong."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    useful = [line for line in lines if "Error building extension" not in line] or lines or ["unknown error"]
    for line in useful:
        if "error" in line.lower() or "fatal" in line.lower():
            return line[:300]
    return useful[0][:300]


def get():
    """The loaded extension, building it on first use; None (after one warning) when that fails."""
    global _module, _error, _warned
    if _module is not None:
        return _module
    with _lock:
        if _module is not None or _error is not None:
            return _module
        details = ""
        if not torch.cuda.is_available():
            _error = "no CUDA device"
        else:
            try:
                _module = build()
                return _module
            except Exception as exc:  # noqa: BLE001 - any build problem means: fall back
                _error = f"{type(exc).__name__}: {exc}"
                details = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        if not _warned:
            _warned = True
            tail = "\n".join(details.splitlines()[-15:])
            warnings.warn(
                "cfgan ops: CUDA kernels unavailable (" + _first_error_line(_error) + "); using the slow "
                "pure-PyTorch reference path instead. Set CFGAN_OPS_IMPL=ref to choose it explicitly."
                + (f"\n{tail}" if tail else ""), RuntimeWarning, stacklevel=4)
        return None


def state() -> tuple:
    """('cuda' | 'ref', reason) for CUDA tensors, without building anything."""
    if _module is not None:
        return "cuda", f"compiled plugin loaded ({getattr(_module, '__file__', _module.__name__)})"
    if _error is not None:
        reason = _error if _error == "no CUDA device" else f"build failed: {_first_error_line(_error)}"
        return "ref", reason
    if not torch.cuda.is_available():
        return "ref", "no CUDA device"
    return "cuda", "not built yet (built on first CUDA use)"


def last_error() -> Optional[str]:
    """Full text of the build error, if the last build attempt failed."""
    return _error


def _reset() -> None:
    """Forget the build outcome (tests use this to simulate a fresh process)."""
    global _module, _error, _warned
    with _lock:
        _module, _error, _warned = None, None, False
