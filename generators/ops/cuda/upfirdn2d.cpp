// Argument checks and output allocation for the upfirdn2d kernel.
#include <c10/cuda/CUDAGuard.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <climits>
#include "ops.h"

at::Tensor upfirdn2d(at::Tensor x, at::Tensor taps, int64_t upx, int64_t upy, int64_t downx, int64_t downy,
                     int64_t padx0, int64_t padx1, int64_t pady0, int64_t pady1) {
    TORCH_CHECK(x.is_cuda() && x.dim() == 4, "upfirdn2d: x must be a 4-D CUDA tensor");
    const auto acc_type = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    TORCH_CHECK(taps.device() == x.device(), "upfirdn2d: taps must be on the device of x");
    TORCH_CHECK(taps.scalar_type() == acc_type,
                "upfirdn2d: taps must be float64 for float64 x, else float32");
    TORCH_CHECK(taps.dim() == 2 && taps.is_contiguous() && taps.numel() > 0,
                "upfirdn2d: taps must be a non-empty contiguous 2-D tensor");
    TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1, "upfirdn2d: factors must be >= 1");
    for (int64_t s : x.sizes()) TORCH_CHECK(s <= INT_MAX / 64, "upfirdn2d: x is too large");

    const int64_t out_w = (x.size(3) * upx + padx0 + padx1 - taps.size(1)) / downx + 1;
    const int64_t out_h = (x.size(2) * upy + pady0 + pady1 - taps.size(0)) / downy + 1;
    const bool fits_w = x.size(3) * upx + padx0 + padx1 >= taps.size(1);
    const bool fits_h = x.size(2) * upy + pady0 + pady1 >= taps.size(0);
    TORCH_CHECK(fits_w && fits_h, "upfirdn2d: output would be empty");

    const at::cuda::OptionalCUDAGuard guard(x.device());
    const auto format = x.suggest_memory_format();
    at::Tensor y = at::empty({x.size(0), x.size(1), out_h, out_w}, x.options().memory_format(format));
    if (y.numel() == 0) return y;

    Upfirdn2dParams p;
    p.batch = static_cast<int>(x.size(0));
    p.channels = static_cast<int>(x.size(1));
    p.in_h = static_cast<int>(x.size(2));
    p.in_w = static_cast<int>(x.size(3));
    p.out_h = static_cast<int>(out_h);
    p.out_w = static_cast<int>(out_w);
    p.in_stride_n = x.stride(0);
    p.in_stride_c = x.stride(1);
    p.in_stride_h = x.stride(2);
    p.in_stride_w = x.stride(3);
    p.out_stride_n = y.stride(0);
    p.out_stride_c = y.stride(1);
    p.out_stride_h = y.stride(2);
    p.out_stride_w = y.stride(3);
    p.up_x = static_cast<int>(upx);
    p.up_y = static_cast<int>(upy);
    p.down_x = static_cast<int>(downx);
    p.down_y = static_cast<int>(downy);
    p.pad_x0 = static_cast<int>(padx0);
    p.pad_y0 = static_cast<int>(pady0);
    p.taps_h = static_cast<int>(taps.size(0));
    p.taps_w = static_cast<int>(taps.size(1));
    p.channels_last = format == at::MemoryFormat::ChannelsLast;
    launch_upfirdn2d(p, x, taps, y);
    return y;
}
