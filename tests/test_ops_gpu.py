"""CUDA kernels of generators.ops against the reference path on the same GPU: outputs, first and second
derivatives, memory layouts, and the fallback when the plugin cannot be built. Skipped without a GPU."""
import warnings

import pytest
import torch

import generators.ops as ops
from generators.ops import dispatch, plugin

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

ACTS = ["linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"]
# max |kernel - ref| allowed, relative to the largest magnitude of the compared tensor
TOLERANCE = {torch.float32: 2e-5, torch.float16: 4e-3, torch.float64: 1e-12}


@pytest.fixture(scope="module", autouse=True)
def built_plugin():
    """Build (or load from the cache) once; failing here means the kernels are broken, not absent."""
    plugin._reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = plugin.get()
    assert module is not None, f"CUDA plugin failed to build: {plugin.last_error()}"
    yield module


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)


def assert_near(actual, expected, dtype, what):
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, what
    scale = max(expected.abs().max().item(), 1.0)
    error = (actual.double() - expected.double()).abs().max().item()
    assert error <= TOLERANCE[dtype] * scale, f"{what}: max abs error {error:.3g} (scale {scale:.3g})"


def derivatives(fn, inputs, seed):
    """Output, first derivatives w.r.t. every input, and second derivatives of a random projection."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    y = fn(*inputs)
    v = torch.randn(y.shape, generator=g, device="cuda", dtype=torch.float32).to(y.dtype).requires_grad_(True)
    first = torch.autograd.grad(y, inputs, v, create_graph=True)
    u = [torch.randn(t.shape, generator=g, device="cuda", dtype=torch.float32).to(t.dtype) for t in first]
    inner = sum((a * b).sum() for a, b in zip(first, u))
    second = torch.autograd.grad(inner, inputs + (v,), allow_unused=True)
    return y, first, second


def compare(fn_cuda, fn_ref, inputs, dtype, what, seed=0):
    ours = derivatives(fn_cuda, tuple(t.detach().clone().requires_grad_(True) for t in inputs), seed)
    theirs = derivatives(fn_ref, tuple(t.detach().clone().requires_grad_(True) for t in inputs), seed)
    assert_near(ours[0], theirs[0], dtype, f"{what} output")
    for i, (a, b) in enumerate(zip(ours[1], theirs[1])):
        assert_near(a, b, dtype, f"{what} grad[{i}]")
    for i, (a, b) in enumerate(zip(ours[2], theirs[2])):
        if a is None or b is None:  # None = identically zero (piecewise-linear activations)
            other = b if a is None else a
            assert other is None or other.abs().max().item() <= TOLERANCE[dtype], f"{what} 2nd grad[{i}]"
            continue
        assert_near(a, b, dtype, f"{what} 2nd grad[{i}]")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("act", ACTS)
def test_bias_act_kernel_matches_reference(act, dtype):
    g = torch.Generator(device="cuda").manual_seed(1)
    x = (torch.randn(4, 16, 9, 7, generator=g, device="cuda") * 3).to(dtype)
    b = torch.randn(16, generator=g, device="cuda").to(dtype).requires_grad_(True)
    # Outputs within rounding distance of the clamp limit may be clamped by one path and not by the other
    # (the reference rounds to float16 before comparing); move them away so the comparison is meaningful.
    for _ in range(8):
        y = ops.bias_act(x.double(), b.detach().double(), act=act, gain=0.7, impl="ref")
        near = (y.abs() - 2.0).abs() < 0.02
        x = torch.where(near, x * 0.5, x)
    x.requires_grad_(True)
    for clamp, gain in [(None, None), (2.0, 0.7)]:
        def run(impl, clamp=clamp, gain=gain):
            return lambda x, b: ops.bias_act(x, b, act=act, gain=gain, clamp=clamp, impl=impl)
        compare(run("cuda"), run("ref"), [x, b], dtype, f"bias_act[{act}, clamp={clamp}]")


def test_bias_act_kernel_other_dims_and_layouts():
    g = torch.Generator(device="cuda").manual_seed(2)
    x = torch.randn(3, 8, 5, 6, generator=g, device="cuda").to(memory_format=torch.channels_last)
    b1, b3 = torch.randn(8, device="cuda"), torch.randn(6, device="cuda")
    for dim, b, t in [(1, b1, x), (3, b3, x), (1, b1, x.transpose(2, 3)), (2, None, x[:, :, ::2])]:
        t = t.detach().requires_grad_(True)
        run = [lambda t, impl=impl, dim=dim, b=b: ops.bias_act(t, b, dim=dim, act="lrelu", clamp=1.0,
                                                               impl=impl)
               for impl in ("cuda", "ref")]
        compare(run[0], run[1], [t], torch.float32, f"bias_act layout dim={dim}")


def test_bias_act_kernel_gradcheck_float64():
    g = torch.Generator(device="cuda").manual_seed(3)
    x = torch.randn(2, 3, 4, generator=g, device="cuda", dtype=torch.float64).requires_grad_(True)
    b = torch.randn(3, generator=g, device="cuda", dtype=torch.float64).requires_grad_(True)
    for act in ("lrelu", "swish", "tanh"):
        def fn(x, b, act=act):
            return ops.bias_act(x, b, act=act, clamp=10.0, impl="cuda")
        assert torch.autograd.gradcheck(fn, (x, b))
        assert torch.autograd.gradgradcheck(fn, (x, b))


UPFIRDN_CASES = [  # (up, down, padding, filter taps)
    (1, 1, 0, [1, 3, 3, 1]), (2, 1, [2, 1], [1, 3, 3, 1]), (1, 2, [1, 1, 1, 1], [1, 3, 3, 1]),
    ([2, 1], [1, 3], [0, 1, 3, 2], [[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]]),
    (3, 2, [-1, 4, 2, 0], [1, 2, 3, 4, 4, 3, 2, 1]),  # 8 taps: separable
    (4, 4, [3, 3, 3, 3], [1, 3, 3, 1]),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("case", range(len(UPFIRDN_CASES)))
@pytest.mark.parametrize("flip_filter", [False, True])
def test_upfirdn2d_kernel_matches_reference(case, dtype, flip_filter):
    up, down, padding, taps = UPFIRDN_CASES[case]
    f = ops.setup_filter(taps, device="cuda", normalize=len(taps) != 2)
    g = torch.Generator(device="cuda").manual_seed(4)
    x = torch.randn(3, 5, 17, 12, generator=g, device="cuda").to(dtype).requires_grad_(True)

    def run(impl):
        return lambda x: ops.upfirdn2d(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter,
                                       gain=2.0, impl=impl)
    compare(run("cuda"), run("ref"), [x], dtype, f"upfirdn2d case {case}")


def test_upfirdn2d_kernel_layouts_and_helpers():
    f = ops.setup_filter([1, 3, 3, 1], device="cuda")
    g = torch.Generator(device="cuda").manual_seed(5)
    x = torch.randn(2, 6, 16, 16, generator=g, device="cuda")
    for t in (x.to(memory_format=torch.channels_last), x[:, :, 1:, ::2], x.transpose(2, 3)):
        for helper in (ops.upsample2d, ops.downsample2d, ops.filter2d):
            y_cuda, y_ref = helper(t, f, impl="cuda"), helper(t, f, impl="ref")
            assert_near(y_cuda, y_ref, torch.float32, helper.__name__)
    assert ops.upsample2d(x.to(memory_format=torch.channels_last), f).is_contiguous(
        memory_format=torch.channels_last)


def test_upfirdn2d_kernel_gradcheck_float64():
    f = ops.setup_filter([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]], device="cuda", normalize=False)
    x = torch.randn(1, 2, 5, 4, device="cuda", dtype=torch.float64).requires_grad_(True)

    def fn(x):
        return ops.upfirdn2d(x, f, up=2, down=[1, 2], padding=[1, 2, 0, 1], impl="cuda")
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_conv2d_resample_with_kernels_matches_reference(monkeypatch):
    f = ops.setup_filter([1, 3, 3, 1], device="cuda")
    g = torch.Generator(device="cuda").manual_seed(6)
    x = torch.randn(2, 8, 16, 16, generator=g, device="cuda")
    w = torch.randn(4, 8, 3, 3, generator=g, device="cuda")
    for up, down in [(1, 1), (2, 1), (1, 2)]:
        y_cuda = ops.conv2d_resample(x, w, f, up=up, down=down, padding=1)
        monkeypatch.setenv(dispatch.ENV_VAR, "ref")
        y_ref = ops.conv2d_resample(x, w, f, up=up, down=down, padding=1)
        monkeypatch.delenv(dispatch.ENV_VAR)
        assert_near(y_cuda, y_ref, torch.float32, f"conv2d_resample up={up} down={down}")


def test_status_reports_cuda():
    assert ops.status()["bias_act"] == "cuda" and "loaded" in ops.status()["reason"]


def test_env_var_forces_reference_on_gpu(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "ref")
    monkeypatch.setattr(plugin, "get", lambda: pytest.fail("kernel used despite CFGAN_OPS_IMPL=ref"))
    x = torch.randn(1, 4, 8, 8, device="cuda")
    ops.bias_act(x, act="lrelu")
    ops.upsample2d(x, ops.setup_filter([1, 3, 3, 1], device="cuda"))
    assert ops.status()["reason"] == "forced by CFGAN_OPS_IMPL=ref"


def test_forced_build_failure_warns_once_and_uses_reference(monkeypatch):
    def failing_build(verbose=False):
        raise RuntimeError("Error building extension 'cfgan_ops'\nerror: simulated compiler failure")

    x = torch.randn(2, 4, 8, 8, device="cuda")
    b = torch.randn(4, device="cuda")
    f = ops.setup_filter([1, 3, 3, 1], device="cuda")
    monkeypatch.setattr(plugin, "build", failing_build)
    plugin._reset()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):
                y = ops.bias_act(x, b, act="lrelu")
                z = ops.upfirdn2d(x, f, up=2, padding=[2, 1])
        assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
        assert torch.equal(y, ops.bias_act(x, b, act="lrelu", impl="ref"))
        assert torch.equal(z, ops.upfirdn2d(x, f, up=2, padding=[2, 1], impl="ref"))
        assert ops.status()["reason"] == "build failed: error: simulated compiler failure"
    finally:
        monkeypatch.undo()
        plugin._reset()
    assert plugin.get() is not None  # the real plugin loads again from the cache
