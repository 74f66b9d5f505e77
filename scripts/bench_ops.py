"""Time the reference path against the CUDA kernels of generators.ops at StyleGAN2-like sizes.

Usage: PYTHONPATH=. python scripts/bench_ops.py [--batch 8] [--iters 20] [--dtype float32|float16|both]
Each row times forward + backward of one op call (median over --iters runs after warm-up).
Without a GPU only the reference path is timed, at reduced sizes, and the reason is printed.
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

import generators.ops as ops
from generators.ops import plugin


def cases(batch: int, device: str, dtype: torch.dtype, small: bool):
    """(label, function of x, input shape) at the sizes StyleGAN2 runs them (256 px generator)."""
    f = ops.setup_filter([1, 3, 3, 1], device=device)
    sizes = [(512, 16), (256, 64), (128, 128)] if not small else [(64, 16), (32, 32)]
    for channels, res in sizes:
        bias = torch.randn(channels, device=device, dtype=dtype, requires_grad=True)
        shape = (batch, channels, res, res)
        yield (f"bias_act lrelu+clamp {shape}",
               lambda x, impl, b=bias: ops.bias_act(x, b, act="lrelu", clamp=256, impl=impl), shape)
        yield f"upsample2d x2 {shape}", lambda x, impl: ops.upsample2d(x, f, impl=impl), shape
        yield f"downsample2d /2 {shape}", lambda x, impl: ops.downsample2d(x, f, impl=impl), shape
        yield f"filter2d {shape}", lambda x, impl: ops.filter2d(x, f, impl=impl), shape


def time_fwd_bwd(fn, x, impl: str, iters: int, device: str) -> float:
    def once():
        y = fn(x, impl)
        y.backward(torch.ones_like(y))

    for _ in range(3):
        once()
    times = []
    for _ in range(iters):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        once()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--dtype", choices=["float32", "float16", "both"], default="both")
    args = parser.parse_args()

    use_cuda = torch.cuda.is_available()
    if use_cuda:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            have_kernels = plugin.get() is not None
        print(f"plugin ready in {time.perf_counter() - start:.1f} s; status: {ops.status()}")
        print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
        dtypes = ["float32", "float16"] if args.dtype == "both" else [args.dtype]
    else:
        have_kernels = False
        dtypes = ["float32"]
        print(f"reference path only: {ops.status()['reason']}; CPU timings at reduced sizes, float32")
    device = "cuda" if use_cuda else "cpu"
    iters = args.iters if use_cuda else max(2, args.iters // 10)
    batch = args.batch if use_cuda else 2

    gen = torch.Generator(device=device).manual_seed(0)
    for dtype_name in dtypes:
        dtype = getattr(torch, dtype_name)
        title = f"op (forward + backward), {dtype_name}"
        print(f"\n{title:48s} {'ref ms':>9s} {'cuda ms':>9s} {'speed-up':>9s}")
        for label, fn, shape in cases(batch, device, dtype, small=not use_cuda):
            x = torch.randn(shape, generator=gen, device=device).to(dtype).requires_grad_(True)
            ref_ms = time_fwd_bwd(fn, x, "ref", iters, device)
            if have_kernels:
                cuda_ms = time_fwd_bwd(fn, x, "cuda", iters, device)
                print(f"{label:48s} {ref_ms:9.3f} {cuda_ms:9.3f} {ref_ms / cuda_ms:8.2f}x")
            else:
                print(f"{label:48s} {ref_ms:9.3f} {'-':>9s} {'-':>9s}")


if __name__ == "__main__":
    main()
