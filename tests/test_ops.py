"""CPU tests of generators.ops: the reference path against independent formulations, derivatives, and the
rules that choose between the reference path and the CUDA kernels."""
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import generators.ops as ops
from generators.ops import dispatch, plugin

ACTS = ["linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"]
SELU_SCALE, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772


def expected_act(s: torch.Tensor, act: str, alpha: float) -> torch.Tensor:
    """Each activation written out from its textbook definition."""
    pos = s > 0
    return {
        "linear": s,
        "relu": torch.where(pos, s, torch.zeros_like(s)),
        "lrelu": torch.where(pos, s, alpha * s),
        "tanh": (torch.exp(s) - torch.exp(-s)) / (torch.exp(s) + torch.exp(-s)),
        "sigmoid": 1 / (1 + torch.exp(-s)),
        "elu": torch.where(pos, s, torch.exp(s) - 1),
        "selu": SELU_SCALE * torch.where(pos, s, SELU_ALPHA * (torch.exp(s) - 1)),
        "softplus": torch.log(1 + torch.exp(s)),
        "swish": s / (1 + torch.exp(-s)),
    }[act]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)


# -- bias_act ------------------------------------------------------------------------------------
@pytest.mark.parametrize("act", ACTS)
def test_bias_act_matches_plain_formulas(act):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 4, 6, generator=g, dtype=torch.float64) * 2
    b = torch.randn(5, generator=g, dtype=torch.float64)
    s = x + b.reshape(1, -1, 1, 1)
    default_gain = math.sqrt(2) if act in ("relu", "lrelu", "swish") else 1.0
    default_alpha = 0.2 if act == "lrelu" else 0.0
    want = expected_act(s, act, default_alpha) * default_gain
    torch.testing.assert_close(ops.bias_act(x, b, act=act), want, rtol=1e-12, atol=1e-12)
    # explicit alpha, gain and clamp, bias along another dimension
    b6 = torch.randn(6, generator=g, dtype=torch.float64)
    s3 = x + b6.reshape(1, 1, 1, -1)
    y = ops.bias_act(x, b6, dim=3, act=act, alpha=0.3, gain=0.7, clamp=0.5)
    want = (expected_act(s3, act, 0.3) * 0.7).clamp(-0.5, 0.5)
    torch.testing.assert_close(y, want, rtol=1e-12, atol=1e-12)
    assert y.dtype == x.dtype and y.shape == x.shape


def test_bias_act_without_bias_and_dtype():
    x = torch.randn(2, 3, dtype=torch.float32)
    torch.testing.assert_close(ops.bias_act(x, act="relu", gain=1), x.clamp(min=0))
    # a float64 bias does not promote a float32 activation
    assert ops.bias_act(x, torch.ones(3, dtype=torch.float64)).dtype == torch.float32


def away_from_kinks(seed: int):
    """float64 x [2, 3, 4] and b [3] requiring grad, with |x + b| in [0.09, 1.11]: away from the kinks of
    relu/lrelu (0) and of a clamp at 2.5, where finite differences would straddle them."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(2, 3, 4, generator=g, dtype=torch.float64) + 0.1) * torch.where(
        torch.rand(2, 3, 4, generator=g) > 0.5, 1.0, -1.0).double()
    b = torch.randn(3, generator=g, dtype=torch.float64) * 0.01
    return x.requires_grad_(True), b.requires_grad_(True)


@pytest.mark.parametrize("act", ACTS)
def test_bias_act_gradcheck(act):
    x, b = away_from_kinks(1)

    def fn(x, b):
        return ops.bias_act(x, b, act=act, clamp=2.5)

    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


def test_bias_act_rejects_bad_input():
    x = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match="unknown act"):
        ops.bias_act(x, act="gelu_tanh_nope")
    with pytest.raises(ValueError, match="elements"):
        ops.bias_act(x, torch.zeros(4))
    with pytest.raises(ValueError, match="clamp"):
        ops.bias_act(x, clamp=-1)
    with pytest.raises(ValueError, match="dim"):
        ops.bias_act(x, torch.zeros(3), dim=5)


# -- upfirdn2d -----------------------------------------------------------------------------------
def naive_upfirdn2d(x, f, up, down, pad, flip_filter, gain):
    """Straight from the definition, with numpy loops: zero insertion, pad/crop, convolve, decimate."""
    x = x.detach().numpy()
    f = f.detach().double().numpy()
    if f.ndim == 1:
        f = np.outer(f, f)
    if not flip_filter:  # convolution = correlation with the mirrored filter
        f = f[::-1, ::-1]
    (upx, upy), (downx, downy), (px0, px1, py0, py1) = up, down, pad
    n, c, h, w = x.shape
    u = np.zeros((n, c, h * upy, w * upx))
    u[:, :, ::upy, ::upx] = x
    big = np.zeros((n, c, h * upy + abs(py0) + abs(py1) + 2, w * upx + abs(px0) + abs(px1) + 2))
    oy, ox = abs(py0) + 1, abs(px0) + 1
    big[:, :, oy:oy + h * upy, ox:ox + w * upx] = u
    padded = big[:, :, oy - py0: oy + h * upy + py1, ox - px0: ox + w * upx + px1]
    fh, fw = f.shape
    out_h = (padded.shape[2] - fh) // downy + 1
    out_w = (padded.shape[3] - fw) // downx + 1
    out = np.zeros((n, c, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            window = padded[:, :, i * downy: i * downy + fh, j * downx: j * downx + fw]
            out[:, :, i, j] = (window * f).sum(axis=(2, 3))
    return torch.from_numpy(out * gain)


FILTERS = {
    "binomial4": ops.setup_filter([1, 3, 3, 1]),
    "asymmetric2x3": torch.tensor([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]]),
    "separable8": ops.setup_filter([1, 2, 3, 4, 4, 3, 2, 1]),
    "none": None,
}
CONFIGS = [((1, 1), (1, 1), (0, 0, 0, 0)), ((2, 2), (1, 1), (2, 1, 2, 1)), ((1, 1), (2, 2), (1, 1, 1, 1)),
           ((2, 1), (1, 3), (0, 1, 3, 2)), ((3, 2), (2, 1), (-1, 4, 2, 0)), ((1, 1), (1, 1), (4, 4, 3, 3))]


@pytest.mark.parametrize("filter_name", sorted(FILTERS))
@pytest.mark.parametrize("flip_filter", [False, True])
def test_upfirdn2d_matches_definition(filter_name, flip_filter):
    f = FILTERS[filter_name]
    x = torch.randn(2, 3, 9, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for up, down, pad in CONFIGS:
        y = ops.upfirdn2d(x, f, up=list(up), down=list(down), padding=list(pad), flip_filter=flip_filter,
                          gain=4.0)
        fx = f if f is not None else torch.ones(1, 1)
        want = naive_upfirdn2d(x, fx, up, down, pad, flip_filter, 4.0)
        assert y.shape == want.shape, (up, down, pad)
        torch.testing.assert_close(y, want, rtol=1e-10, atol=1e-10)


def test_upfirdn2d_argument_forms_are_equivalent():
    x = torch.randn(1, 2, 6, 7, generator=torch.Generator().manual_seed(3))
    f = FILTERS["binomial4"]
    torch.testing.assert_close(ops.upfirdn2d(x, f, up=2, padding=1), ops.upfirdn2d(x, f, up=[2, 2],
                                                                                     padding=[1, 1, 1, 1]))
    torch.testing.assert_close(ops.upfirdn2d(x, f, padding=[2, 1]), ops.upfirdn2d(x, f, padding=[2, 2, 1, 1]))


def test_resampling_helpers_keep_shapes_and_constant_signals():
    f = FILTERS["binomial4"]
    x = torch.ones(1, 2, 8, 8)
    up, down, same = ops.upsample2d(x, f), ops.downsample2d(x, f), ops.filter2d(x, f)
    assert up.shape[-2:] == (16, 16) and down.shape[-2:] == (4, 4) and same.shape[-2:] == (8, 8)
    # a normalized filter keeps a constant image constant away from the zero-padded border
    for y in (up[..., 3:-3, 3:-3], down[..., 1:-1, 1:-1], same[..., 2:-2, 2:-2]):
        torch.testing.assert_close(y, torch.ones_like(y))
    assert ops.upsample2d(x, f, padding=1).shape[-2:] == (18, 18)


def test_setup_filter():
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = ops.setup_filter(taps, gain=4)
    assert f.shape == (4, 4) and f.dtype == torch.float32
    torch.testing.assert_close(f.sum(), torch.tensor(4.0))
    torch.testing.assert_close(taps, torch.tensor([1.0, 3.0, 3.0, 1.0]))  # caller's tensor untouched
    assert ops.setup_filter(list(range(1, 9))).shape == (8,)  # long 1-D filters stay separable
    assert ops.setup_filter(None).shape == (1, 1)
    asym = ops.setup_filter([[1.0, 2.0], [3.0, 4.0]], normalize=False, flip_filter=True)
    torch.testing.assert_close(asym, torch.tensor([[4.0, 3.0], [2.0, 1.0]]))
    with pytest.raises(ValueError):
        ops.setup_filter(torch.ones(2, 2, 2))


def test_upfirdn2d_gradcheck():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(1, 1, 4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    f = FILTERS["asymmetric2x3"]
    for up, down, pad in [(2, 1, [1, 2, 0, 1]), (1, 2, [2, 1, 1, 1]), ([1, 2], [3, 1], [1, 0, 2, 2])]:
        def fn(x, up=up, down=down, pad=pad):
            return ops.upfirdn2d(x, f, up=up, down=down, padding=pad, gain=0.5)

        assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_upfirdn2d_rejects_bad_input():
    x = torch.randn(1, 2, 4, 4)
    f = FILTERS["binomial4"]
    with pytest.raises(ValueError, match="4-D"):
        ops.upfirdn2d(x[0], f)
    with pytest.raises(ValueError, match="padding"):
        ops.upfirdn2d(x, f, padding=[1, 2, 3])
    with pytest.raises(ValueError, match="up"):
        ops.upfirdn2d(x, f, up=0)
    with pytest.raises(ValueError, match="empty"):
        ops.upfirdn2d(x, f, padding=-2)
    with pytest.raises(ValueError, match="filter"):
        ops.upfirdn2d(x, f.clone().requires_grad_(True))


# -- conv2d_resample -----------------------------------------------------------------------------
def slow_conv2d_resample(x, w, f, up, down, padding, groups, flip_weight, flip_filter):
    """Upsample, convolve and downsample one after the other, at full resolution."""
    fw, fh = (1, 1) if f is None else (f.shape[-1], f.shape[0])
    px0, px1, py0, py1 = padding
    if up > 1:
        px0, px1, py0, py1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2, py0 + (fh + up - 1) // 2, \
            py1 + (fh - up) // 2
    if down > 1:
        px0, px1, py0, py1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2, py0 + (fh - down + 1) // 2, \
            py1 + (fh - down) // 2
    x = naive_upfirdn2d(x, f if up > 1 else torch.ones(1, 1), (up, up), (1, 1), (px0, px1, py0, py1),
                        flip_filter, up ** 2)
    x = F.conv2d(x, w if flip_weight else w.flip([2, 3]), groups=groups)
    if down > 1:
        x = naive_upfirdn2d(x, f, (1, 1), (down, down), (0, 0, 0, 0), flip_filter, 1)
    return x


@pytest.mark.parametrize("kernel", [1, 3])
@pytest.mark.parametrize("up,down", [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_conv2d_resample_matches_slow_path(kernel, up, down):
    g = torch.Generator().manual_seed(5)
    f = ops.setup_filter([1, 3, 3, 1])
    cases = [(1, (0, 0, 0, 0), True, False), (2, (1, 1, 1, 1), False, True), (1, (1, 0, 2, 1), True, True)]
    for groups, padding, flip_weight, flip_filter in cases:
        x = torch.randn(2, 4, 8, 7, generator=g, dtype=torch.float64)
        w = torch.randn(6, 4 // groups, kernel, kernel, generator=g, dtype=torch.float64)
        y = ops.conv2d_resample(x, w, f, up=up, down=down, padding=list(padding), groups=groups,
                                flip_weight=flip_weight, flip_filter=flip_filter)
        want = slow_conv2d_resample(x, w, f, up, down, padding, groups, flip_weight, flip_filter)
        assert y.shape == want.shape
        torch.testing.assert_close(y, want, rtol=1e-10, atol=1e-10)


def test_conv2d_resample_rejects_mismatched_weight():
    with pytest.raises(ValueError, match="channels"):
        ops.conv2d_resample(torch.randn(1, 3, 8, 8), torch.randn(4, 2, 3, 3))
    with pytest.raises(ValueError, match="dtype"):
        ops.conv2d_resample(torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3, dtype=torch.float64))


# -- implementation choice -----------------------------------------------------------------------
def test_impl_cuda_on_cpu_tensor_is_a_clear_error():
    x = torch.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="needs a CUDA tensor"):
        ops.bias_act(x, impl="cuda")
    with pytest.raises(ValueError, match="needs a CUDA tensor"):
        ops.upfirdn2d(x, None, impl="cuda")
    with pytest.raises(ValueError, match="impl must be"):
        ops.filter2d(x, None, impl="fast")


def test_env_var_forces_reference(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "ref")
    assert ops.status() == {"bias_act": "ref", "upfirdn2d": "ref", "reason": "forced by CFGAN_OPS_IMPL=ref"}
    x = torch.randn(1, 2, 4, 4)
    assert dispatch.choose_impl(x, None, "test") == "ref"
    monkeypatch.setenv(dispatch.ENV_VAR, "reff")
    with pytest.raises(ValueError, match="CFGAN_OPS_IMPL"):
        ops.bias_act(x)


@pytest.mark.skipif(torch.cuda.is_available(), reason="describes a machine without a GPU")
def test_status_without_gpu():
    assert ops.status() == {"bias_act": "ref", "upfirdn2d": "ref", "reason": "no CUDA device"}


def test_build_failure_warns_once_and_falls_back(monkeypatch):
    """Simulated GPU machine whose compiler fails: one warning, then None (= reference path), no crash."""
    def failing_build(verbose=False):
        raise RuntimeError("Error building extension 'x'\nnvcc fatal   : Unsupported gpu architecture")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(plugin, "build", failing_build)
    plugin._reset()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert plugin.get() is None
            assert plugin.get() is None
        messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        assert len(messages) == 1 and "reference path" in messages[0]
        assert ops.status() == {"bias_act": "ref", "upfirdn2d": "ref",
                                "reason": "build failed: nvcc fatal   : Unsupported gpu architecture"}
    finally:
        plugin._reset()


def test_stale_build_lock_is_removed(tmp_path, monkeypatch):
    from torch.utils import cpp_extension

    monkeypatch.setattr(cpp_extension, "FileBaton", object, raising=False)  # a torch with file-based locks
    (tmp_path / "lock").write_text("")
    plugin._remove_stale_lock(tmp_path, serialised=False)  # fresh and maybe in use: kept
    assert (tmp_path / "lock").exists()
    with pytest.warns(RuntimeWarning, match="stale build lock"):
        plugin._remove_stale_lock(tmp_path, serialised=True)
    assert not (tmp_path / "lock").exists()


def test_build_lock_times_out_instead_of_hanging(tmp_path):
    with plugin._exclusive(tmp_path) as held:
        if not held:
            pytest.skip("no fcntl on this platform")
        with pytest.raises(TimeoutError, match="another process"):
            with plugin._exclusive(tmp_path, timeout_s=0.3):
                pass


def _fake_toolkit(root):
    (root / "bin").mkdir(parents=True)
    (root / "include").mkdir()
    (root / "bin" / "nvcc").write_text("#!/bin/sh\n")
    (root / "bin" / "nvcc").chmod(0o755)
    (root / "include" / "cuda_runtime.h").write_text("")
    return root


def test_cuda_home_skips_a_wrapper_dir_without_headers(tmp_path, monkeypatch):
    from torch.utils import cpp_extension

    toolkit = _fake_toolkit(tmp_path / "cuda-99.0")
    wrapper = tmp_path / "usr"  # like /usr/local: bin/nvcc exists, the headers do not
    (wrapper / "bin").mkdir(parents=True)
    (wrapper / "bin" / "nvcc").symlink_to(toolkit / "bin" / "nvcc")
    for variable in ("CUDA_HOME", "CUDA_PATH"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", str(wrapper))  # what torch guesses from PATH
    monkeypatch.setenv("PATH", str(wrapper / "bin"))
    assert plugin.find_cuda_home() == str(toolkit)


def test_explicit_cuda_home_without_toolkit_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_HOME", str(tmp_path))
    with pytest.raises(RuntimeError, match=f"CUDA_HOME={tmp_path} does not contain a CUDA toolkit"):
        plugin.find_cuda_home()
    monkeypatch.setenv("CUDA_HOME", str(_fake_toolkit(tmp_path / "cuda")))
    assert plugin.find_cuda_home() == str(tmp_path / "cuda")


# -- the CUDA path's Python side, on CPU ------------------------------------------------------------
class EmulatedKernels:
    """The two kernels of generators/ops/cuda transcribed to Python, loop for loop, so that the autograd
    functions wrapped around them (tap mirroring, separable passes, adjoint geometry, derivative orders)
    can be checked without a GPU. tests/test_ops_gpu.py compares the real kernels with the reference."""

    @staticmethod
    def upfirdn2d(x, taps, up_x, down_x, before_x, after_x, up_y, down_y, before_y, after_y):
        def out_len(n, up, down, before, after, k):
            return (n * up + before + after - k) // down + 1

        def taps_on_samples(out, up, down, before, n, k):  # TapRun of upfirdn2d.cu
            start = out * down - before
            first = -start if start < 0 else (up - start % up) % up
            return range(first, min(k, (n - 1) * up - start + 1), up), (start + first) // up

        kh, kw = taps.shape
        h, w = x.shape[2:]
        oh = out_len(h, up_y, down_y, before_y, after_y, kh)
        ow = out_len(w, up_x, down_x, before_x, after_x, kw)
        # weights[oy, ox, iy, ix]: what input sample (iy, ix) contributes to output sample (oy, ox)
        weights = np.zeros((oh, ow, h, w))
        taps = taps.double().numpy()
        for oy in range(oh):
            ty_range, iy0 = taps_on_samples(oy, up_y, down_y, before_y, h, kh)
            for ox in range(ow):
                tx_range, ix0 = taps_on_samples(ox, up_x, down_x, before_x, w, kw)
                for iy, ty in enumerate(ty_range, iy0):
                    for ix, tx in enumerate(tx_range, ix0):
                        weights[oy, ox, iy, ix] += taps[ty, tx]
        return torch.einsum("ncij,abij->ncab", x, torch.from_numpy(weights).to(x.dtype))

    @staticmethod
    def bias_act(x, b, g1, g2, order, dim, act, alpha, gain, clamp):
        s = x if b.numel() == 0 else x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
        g = torch.sigmoid(s)
        t = torch.tanh(s)
        pos = s > 0
        one, zero = torch.ones_like(s), torch.zeros_like(s)
        table = {  # act id: (value, first, second derivative), as in activation_derivative()
            0: (s, one, zero),
            1: (torch.where(pos, s, zero), torch.where(pos, one, zero), zero),
            2: (torch.where(pos, s, alpha * s), torch.where(pos, one, alpha * one), zero),
            3: (t, 1 - t * t, -2 * t * (1 - t * t)),
            4: (g, g * (1 - g), g * (1 - g) * (1 - 2 * g)),
            5: (torch.where(pos, s, torch.expm1(s)), torch.where(pos, one, s.exp()), torch.where(pos, zero, s.exp())),
            6: (torch.where(pos, SELU_SCALE * s, SELU_SCALE * SELU_ALPHA * torch.expm1(s)),
                torch.where(pos, SELU_SCALE * one, SELU_SCALE * SELU_ALPHA * s.exp()),
                torch.where(pos, zero, SELU_SCALE * SELU_ALPHA * s.exp())),
            7: (torch.where(s > 20, s, torch.log1p(s.exp())), torch.where(s > 20, one, g),
                torch.where(s > 20, zero, g * (1 - g))),
            8: (s * g, g * (1 + s * (1 - g)), g * (1 - g) * (2 + s * (1 - 2 * g))),
        }[act]
        value = table[0] * gain
        if order == 0:
            return value.clamp(-clamp, clamp) if clamp >= 0 else value
        passes = (value >= -clamp) & (value <= clamp) if clamp >= 0 else torch.ones_like(pos)
        out = g1 * gain * table[order] * (g2 if order == 2 else 1)
        return torch.where(passes, out, zero)


@pytest.fixture
def emulated_kernels(monkeypatch):
    monkeypatch.setattr(plugin, "get", lambda: EmulatedKernels)


@pytest.mark.parametrize("filter_name", ["asymmetric2x3", "separable8", "binomial4"])
def test_kernel_upfirdn2d_glue_matches_reference(filter_name, emulated_kernels):
    from generators.ops.resample import Axis, _KernelUpfirdn2d

    f = FILTERS[filter_name]
    g = torch.Generator().manual_seed(7)
    for up, down, pad in [((2, 1), (1, 3), (0, 1, 3, 2)), ((3, 2), (2, 1), (-1, 4, 2, 0)),
                          ((2, 2), (1, 1), (2, 1, 2, 1))]:
        for flip_filter in (False, True):
            x = torch.randn(1, 1, 5, 4, generator=g, dtype=torch.float64, requires_grad=True)
            ax, ay = Axis(up[0], down[0], pad[0], pad[1]), Axis(up[1], down[1], pad[2], pad[3])

            def kernel(x, ax=ax, ay=ay, flip_filter=flip_filter):
                return _KernelUpfirdn2d.apply(x, f, ax, ay, flip_filter, 2.0)

            want = ops.upfirdn2d(x, f, up=list(up), down=list(down), padding=list(pad), flip_filter=flip_filter,
                                 gain=2.0)
            torch.testing.assert_close(kernel(x), want, rtol=1e-12, atol=1e-12)
            assert torch.autograd.gradcheck(kernel, (x,))
    assert torch.autograd.gradgradcheck(kernel, (x,))


@pytest.mark.parametrize("act", ACTS)
def test_kernel_bias_act_glue_matches_reference(act, emulated_kernels):
    from generators.ops.activation import ACTIVATIONS, _kernel_bias_act

    x, b = away_from_kinks(8)

    def kernel(x, b):
        return _kernel_bias_act(x, b, 1, ACTIVATIONS[act], ACTIVATIONS[act].alpha, 0.7, 2.5)

    torch.testing.assert_close(kernel(x, b), ops.bias_act(x, b, act=act, gain=0.7, clamp=2.5), rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(kernel, (x, b))
    assert torch.autograd.gradgradcheck(kernel, (x, b))
