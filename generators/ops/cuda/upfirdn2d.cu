// upfirdn2d kernel: one thread per output pixel (grid-stride loop). Each output pixel is a dot product of
// the filter taps with the zero-upsampled, padded input; only the taps that land on a real (non-inserted,
// in-bounds) input pixel are visited, found by stepping `up` taps at a time from the first aligned one.
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include "ops.h"

namespace {

// First tap index k >= 0 with (base + k) a non-negative multiple of `up`.
__device__ __forceinline__ int first_aligned_tap(int base, int up) {
    int k = base < 0 ? -base : 0;
    int r = (base + k) % up;
    return r == 0 ? k : k + (up - r);
}

template <typename scalar_t, typename acc_t>
__global__ void upfirdn2d_kernel(Upfirdn2dParams p, const scalar_t* __restrict__ x,
                                 const acc_t* __restrict__ taps, scalar_t* __restrict__ y) {
    const int64_t total = static_cast<int64_t>(p.batch) * p.channels * p.out_h * p.out_w;
    const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        int64_t t = i;
        int n, c, oy, ox;
        if (p.channels_last) {
            c = t % p.channels; t /= p.channels;
            ox = t % p.out_w; t /= p.out_w;
            oy = t % p.out_h; n = static_cast<int>(t / p.out_h);
        } else {
            ox = t % p.out_w; t /= p.out_w;
            oy = t % p.out_h; t /= p.out_h;
            c = t % p.channels; n = static_cast<int>(t / p.channels);
        }
        // Tap (ky, kx) reads upsampled pixel (base_y + ky, base_x + kx): input pixel (. / up) when aligned.
        const int base_y = oy * p.down_y - p.pad_y0;
        const int base_x = ox * p.down_x - p.pad_x0;
        const int ky_end = min(p.taps_h, (p.in_h - 1) * p.up_y - base_y + 1);
        const int kx_end = min(p.taps_w, (p.in_w - 1) * p.up_x - base_x + 1);
        const int kx_begin = first_aligned_tap(base_x, p.up_x);
        const int ky_begin = first_aligned_tap(base_y, p.up_y);
        // Consecutive aligned taps read consecutive input pixels: walk pointers instead of dividing.
        const scalar_t* row = x + n * p.in_stride_n + c * p.in_stride_c
                              + static_cast<int64_t>((base_y + ky_begin) / p.up_y) * p.in_stride_h
                              + static_cast<int64_t>((base_x + kx_begin) / p.up_x) * p.in_stride_w;
        acc_t acc = acc_t(0);
        for (int ky = ky_begin; ky < ky_end; ky += p.up_y, row += p.in_stride_h) {
            const acc_t* tap = taps + ky * p.taps_w;
            const scalar_t* pixel = row;
            for (int kx = kx_begin; kx < kx_end; kx += p.up_x, pixel += p.in_stride_w)
                acc += static_cast<acc_t>(*pixel) * tap[kx];
        }
        y[n * p.out_stride_n + c * p.out_stride_c + oy * p.out_stride_h + ox * p.out_stride_w] =
            static_cast<scalar_t>(acc);
    }
}

}  // namespace

void launch_upfirdn2d(const Upfirdn2dParams& p, const at::Tensor& x, const at::Tensor& taps, at::Tensor& y) {
    constexpr int threads = 256;
    const int64_t total = y.numel();
    const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, int64_t(1) << 30);
    cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "upfirdn2d", [&] {
        using acc_t = typename std::conditional<std::is_same<scalar_t, double>::value, double, float>::type;
        upfirdn2d_kernel<scalar_t, acc_t><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
            p, x.data_ptr<scalar_t>(), taps.data_ptr<acc_t>(), y.data_ptr<scalar_t>());
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
}
