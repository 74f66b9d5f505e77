// Elementwise kernel for bias_act: one thread per element (grid-stride loop), math in float (double for
// double inputs). Mode 0 evaluates the op, mode 1 its first derivative, mode 2 its second derivative; the
// formulas follow the PyTorch definitions the reference path uses, so both paths agree.
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include "ops.h"

namespace {

enum Act { kLinear = 0, kRelu, kLrelu, kTanh, kSigmoid, kElu, kSelu, kSoftplus, kSwish };

constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSoftplusThreshold = 20.0;  // torch.nn.functional.softplus default

template <typename T> __device__ __forceinline__ T sigmoid(T s) { return T(1) / (T(1) + exp(-s)); }

template <typename T> __device__ __forceinline__ T act_value(int act, T s, T alpha) {
    switch (act) {
        case kRelu: return s > T(0) ? s : T(0);
        case kLrelu: return s > T(0) ? s : s * alpha;
        case kTanh: return tanh(s);
        case kSigmoid: return sigmoid(s);
        case kElu: return s > T(0) ? s : expm1(s);
        case kSelu: return s > T(0) ? T(kSeluScale) * s : T(kSeluScale * kSeluAlpha) * expm1(s);
        case kSoftplus: return s > T(kSoftplusThreshold) ? s : log1p(exp(s));
        case kSwish: return s * sigmoid(s);
        default: return s;
    }
}

template <typename T> __device__ __forceinline__ T act_grad(int act, T s, T alpha) {
    switch (act) {
        case kRelu: return s > T(0) ? T(1) : T(0);
        case kLrelu: return s > T(0) ? T(1) : alpha;
        case kTanh: { T t = tanh(s); return T(1) - t * t; }
        case kSigmoid: { T g = sigmoid(s); return g * (T(1) - g); }
        case kElu: return s > T(0) ? T(1) : exp(s);
        case kSelu: return s > T(0) ? T(kSeluScale) : T(kSeluScale * kSeluAlpha) * exp(s);
        case kSoftplus: {
            if (s > T(kSoftplusThreshold)) return T(1);
            T e = exp(s);  // torch's softplus backward writes it as e / (e + 1)
            return e / (e + T(1));
        }
        case kSwish: { T g = sigmoid(s); return g * (T(1) + s * (T(1) - g)); }
        default: return T(1);
    }
}

template <typename T> __device__ __forceinline__ T act_second_grad(int act, T s) {
    switch (act) {
        case kTanh: { T t = tanh(s); return T(-2) * t * (T(1) - t * t); }
        case kSigmoid: { T g = sigmoid(s); return g * (T(1) - g) * (T(1) - T(2) * g); }
        case kElu: return s > T(0) ? T(0) : exp(s);
        case kSelu: return s > T(0) ? T(0) : T(kSeluScale * kSeluAlpha) * exp(s);
        case kSoftplus: {
            if (s > T(kSoftplusThreshold)) return T(0);
            T g = sigmoid(s);
            return g * (T(1) - g);
        }
        case kSwish: { T g = sigmoid(s); return g * (T(1) - g) * (T(2) + s * (T(1) - T(2) * g)); }
        default: return T(0);  // piecewise linear activations
    }
}

template <typename scalar_t, typename acc_t>
__global__ void bias_act_kernel(BiasActParams p, const scalar_t* __restrict__ x,
                                const scalar_t* __restrict__ b,
                                const scalar_t* __restrict__ g1, const scalar_t* __restrict__ g2,
                                scalar_t* __restrict__ y) {
    const acc_t alpha = static_cast<acc_t>(p.alpha);
    const acc_t gain = static_cast<acc_t>(p.gain);
    const acc_t clamp = static_cast<acc_t>(p.clamp);
    const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.size; i += step) {
        acc_t s = static_cast<acc_t>(x[i]);
        if (p.b_size > 0) s += static_cast<acc_t>(b[(i / p.b_stride) % p.b_size]);
        const acc_t value = act_value(p.act, s, alpha) * gain;
        acc_t out;
        if (p.mode == 0) {
            out = value;
            if (clamp >= acc_t(0)) out = value < -clamp ? -clamp : (value > clamp ? clamp : value);
        } else {
            // torch.clamp passes the gradient where -clamp <= value <= clamp.
            const bool passes = clamp < acc_t(0) || (value >= -clamp && value <= clamp);
            const acc_t g = static_cast<acc_t>(g1[i]) * gain;
            if (!passes) out = acc_t(0);
            else if (p.mode == 1) out = g * act_grad(p.act, s, alpha);
            else out = g * static_cast<acc_t>(g2[i]) * act_second_grad(p.act, s);
        }
        y[i] = static_cast<scalar_t>(out);
    }
}

template <typename scalar_t> const scalar_t* data_or_null(const at::Tensor& t) {
    return t.numel() > 0 ? t.data_ptr<scalar_t>() : nullptr;
}

}  // namespace

void launch_bias_act(const BiasActParams& p, const at::Tensor& x, const at::Tensor& b, const at::Tensor& g1,
                     const at::Tensor& g2, at::Tensor& y) {
    constexpr int threads = 256;
    const int64_t blocks = std::min<int64_t>((p.size + threads - 1) / threads, int64_t(1) << 30);
    cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act", [&] {
        using acc_t = typename std::conditional<std::is_same<scalar_t, double>::value, double, float>::type;
        bias_act_kernel<scalar_t, acc_t><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
            p, x.data_ptr<scalar_t>(), data_or_null<scalar_t>(b), data_or_null<scalar_t>(g1),
            data_or_null<scalar_t>(g2), y.data_ptr<scalar_t>());
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
}
