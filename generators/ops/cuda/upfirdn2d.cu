// upfirdn2d on the GPU. One thread computes one output sample as a small dot product: along each axis it
// visits only the taps that land on a real input sample (not an inserted zero, not padding), so the
// zero-stuffed image is never formed. The taps arrive mirrored (or not) and scaled by the caller, in the
// accumulation type: float, or double for double tensors.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <type_traits>

#include "ops.h"

namespace {

// One image axis: the Axis of generators/ops/resample.py plus lengths and strides.
struct AxisSpec {
    int up, down, before;
    int in_len, out_len, taps;
    int64_t in_stride, out_stride;
};

// The taps t = first_tap, first_tap + up, ... < end_tap that read input samples first_input, first_input + 1, ...
struct TapRun {
    int first_tap, end_tap, first_input;
};

// Tap t of output sample `out` sits on position p = out * down - before + t of the zero-stuffed signal,
// which holds input sample p / up when p is a multiple of up and 0 <= p <= (in_len - 1) * up.
__device__ __forceinline__ TapRun taps_on_samples(const AxisSpec& a, int out) {
    const int start = out * a.down - a.before;
    int first = 0;
    if (start < 0) {
        first = -start;
    } else if (start % a.up != 0) {
        first = a.up - start % a.up;
    }
    TapRun run;
    run.first_tap = first;
    run.end_tap = min(a.taps, (a.in_len - 1) * a.up - start + 1);
    run.first_input = (start + first) / a.up;
    return run;
}

// Strides of the batch and channel dimensions of a 4-D tensor.
struct Planes {
    int64_t sample, channel;
    explicit Planes(const at::Tensor& t) : sample(t.stride(0)), channel(t.stride(1)) {}
};

struct Launch {
    AxisSpec x, y;
    Planes in, out;
    int channels;
    int64_t count;             // output samples
    bool channels_innermost;   // channels-last output: neighbouring threads take neighbouring channels
};

template <typename scalar_t, typename acc_t>
__global__ void upfirdn2d_kernel(const Launch l, const scalar_t* __restrict__ in, const acc_t* __restrict__ taps,
                                 scalar_t* __restrict__ out) {
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < l.count; i += step) {
        // Output coordinates, decoded in the order the output is stored.
        int64_t rest = i;
        int c = 0;
        if (l.channels_innermost) {
            c = static_cast<int>(rest % l.channels);
            rest /= l.channels;
        }
        const int ox = static_cast<int>(rest % l.x.out_len);
        rest /= l.x.out_len;
        const int oy = static_cast<int>(rest % l.y.out_len);
        rest /= l.y.out_len;
        if (!l.channels_innermost) {
            c = static_cast<int>(rest % l.channels);
            rest /= l.channels;
        }
        const int64_t n = rest;

        const TapRun along_y = taps_on_samples(l.y, oy);
        const TapRun along_x = taps_on_samples(l.x, ox);
        const scalar_t* plane = in + n * l.in.sample + c * l.in.channel;
        acc_t sum = acc_t(0);
        for (int ty = along_y.first_tap, iy = along_y.first_input; ty < along_y.end_tap; ty += l.y.up, ++iy) {
            const acc_t* tap_row = taps + static_cast<int64_t>(ty) * l.x.taps;
            const scalar_t* in_row = plane + iy * l.y.in_stride;
            for (int tx = along_x.first_tap, ix = along_x.first_input; tx < along_x.end_tap; tx += l.x.up, ++ix) {
                sum += static_cast<acc_t>(in_row[ix * l.x.in_stride]) * tap_row[tx];
            }
        }
        out[n * l.out.sample + c * l.out.channel + oy * l.y.out_stride + ox * l.x.out_stride] =
            static_cast<scalar_t>(sum);
    }
}

AxisSpec describe_axis(const char* name, int64_t up, int64_t down, int64_t before, int64_t after, int64_t in_len,
                       int64_t taps, int64_t in_stride) {
    TORCH_CHECK(up >= 1 && down >= 1, "upfirdn2d: up and down along ", name, " must be >= 1");
    const int64_t window = in_len * up + before + after - taps;
    TORCH_CHECK(window >= 0, "upfirdn2d: the output would be empty along ", name);
    const int64_t limit = INT_MAX / 4;
    TORCH_CHECK(in_len * up < limit && std::abs(before) < limit && std::abs(after) < limit && taps < limit,
                "upfirdn2d: sizes along ", name, " are too large");
    const auto narrow = [](int64_t v) { return static_cast<int>(v); };
    // out_stride is known once the output exists
    return AxisSpec{narrow(up), narrow(down), narrow(before), narrow(in_len), narrow(window / down + 1), narrow(taps),
                    in_stride, 0};
}

}  // namespace

at::Tensor upfirdn2d(const at::Tensor& x, const at::Tensor& taps, int64_t up_x, int64_t down_x, int64_t before_x,
                     int64_t after_x, int64_t up_y, int64_t down_y, int64_t before_y, int64_t after_y) {
    TORCH_CHECK(x.is_cuda() && x.dim() == 4, "upfirdn2d: x must be a 4-D CUDA tensor");
    const auto acc_type = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    TORCH_CHECK(taps.device() == x.device() && taps.scalar_type() == acc_type,
                "upfirdn2d: taps must be on x's device, float64 for float64 x and float32 otherwise");
    TORCH_CHECK(taps.dim() == 2 && taps.is_contiguous() && taps.numel() > 0,
                "upfirdn2d: taps must be a non-empty contiguous 2-D tensor");
    TORCH_CHECK(x.size(1) < INT_MAX, "upfirdn2d: too many channels");

    const AxisSpec along_x =
        describe_axis("x", up_x, down_x, before_x, after_x, x.size(3), taps.size(1), x.stride(3));
    const AxisSpec along_y =
        describe_axis("y", up_y, down_y, before_y, after_y, x.size(2), taps.size(0), x.stride(2));
    const at::cuda::OptionalCUDAGuard device_guard(x.device());
    const auto layout = x.suggest_memory_format();
    at::Tensor y =
        at::empty({x.size(0), x.size(1), along_y.out_len, along_x.out_len}, x.options().memory_format(layout));
    if (y.numel() == 0) return y;

    Launch l{along_x, along_y, Planes(x), Planes(y), static_cast<int>(x.size(1)), y.numel(),
             layout == at::MemoryFormat::ChannelsLast};
    l.x.out_stride = y.stride(3);
    l.y.out_stride = y.stride(2);

    constexpr int threads = 256;
    const int64_t blocks = std::min<int64_t>((l.count + threads - 1) / threads, int64_t(1) << 22);
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "upfirdn2d", [&] {
        using acc_t = std::conditional_t<std::is_same<scalar_t, double>::value, double, float>;
        upfirdn2d_kernel<scalar_t, acc_t><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
            l, x.data_ptr<scalar_t>(), taps.data_ptr<acc_t>(), y.data_ptr<scalar_t>());
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return y;
}
