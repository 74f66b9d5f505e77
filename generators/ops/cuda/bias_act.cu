// bias_act on the GPU: elementwise, one thread per element (grid-stride loop), arithmetic in float (double
// for double tensors). Besides the op itself it evaluates its first and second derivatives, which the
// autograd functions in generators/ops/activation.py chain into gradients of any order up to two.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <type_traits>

#include "ops.h"

namespace {

// Numbering shared with ACTIVATIONS in generators/ops/activation.py.
enum Activation : int { kLinear = 0, kRelu, kLrelu, kTanh, kSigmoid, kElu, kSelu, kSoftplus, kSwish };

constexpr double kSeluLambda = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSoftplusLinearAbove = 20.0;  // where torch's softplus returns its input unchanged

template <typename T>
__device__ __forceinline__ T logistic(T s) {
    return T(1) / (T(1) + exp(-s));
}

// Value (order 0), first (1) or second (2) derivative of the activation at s.
template <typename T>
__device__ T activation_derivative(int act, int order, T s, T alpha) {
    const bool positive = s > T(0);
    switch (act) {
        case kRelu:
            if (order == 0) return positive ? s : T(0);
            return order == 1 && positive ? T(1) : T(0);
        case kLrelu:
            if (order == 0) return positive ? s : alpha * s;
            return order == 1 ? (positive ? T(1) : alpha) : T(0);
        case kTanh: {
            const T t = tanh(s);
            if (order == 0) return t;
            return order == 1 ? T(1) - t * t : T(-2) * t * (T(1) - t * t);
        }
        case kSigmoid: {
            const T g = logistic(s);
            if (order == 0) return g;
            return order == 1 ? g * (T(1) - g) : g * (T(1) - g) * (T(1) - T(2) * g);
        }
        case kElu:
            if (order == 0) return positive ? s : expm1(s);
            if (positive) return order == 1 ? T(1) : T(0);
            return exp(s);
        case kSelu:
            if (order == 0) return positive ? T(kSeluLambda) * s : T(kSeluLambda * kSeluAlpha) * expm1(s);
            if (positive) return order == 1 ? T(kSeluLambda) : T(0);
            return T(kSeluLambda * kSeluAlpha) * exp(s);
        case kSoftplus: {
            if (s > T(kSoftplusLinearAbove)) return order == 0 ? s : (order == 1 ? T(1) : T(0));
            if (order == 0) return log1p(exp(s));
            const T g = logistic(s);
            return order == 1 ? g : g * (T(1) - g);
        }
        case kSwish: {
            const T g = logistic(s);
            if (order == 0) return s * g;
            if (order == 1) return g * (T(1) + s * (T(1) - g));
            return g * (T(1) - g) * (T(2) + s * (T(1) - T(2) * g));
        }
        default:  // kLinear
            return order == 0 ? s : (order == 1 ? T(1) : T(0));
    }
}

struct Elementwise {
    int64_t count;
    int64_t bias_every;  // consecutive elements that share one bias value: x.stride(dim)
    int64_t bias_count;  // 0: no bias
    int order, act;
    double alpha, gain, clamp;
};

template <typename scalar_t, typename acc_t>
__global__ void bias_act_kernel(const Elementwise e, const scalar_t* __restrict__ x, const scalar_t* __restrict__ b,
                                const scalar_t* __restrict__ g1, const scalar_t* __restrict__ g2,
                                scalar_t* __restrict__ out) {
    const acc_t alpha = static_cast<acc_t>(e.alpha);
    const acc_t gain = static_cast<acc_t>(e.gain);
    const acc_t limit = static_cast<acc_t>(e.clamp);
    const bool clamped = e.clamp >= 0;
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < e.count; i += step) {
        acc_t s = static_cast<acc_t>(x[i]);
        if (e.bias_count > 0) s += static_cast<acc_t>(b[(i / e.bias_every) % e.bias_count]);
        const acc_t value = activation_derivative<acc_t>(e.act, 0, s, alpha) * gain;
        acc_t result;
        if (e.order == 0) {
            result = clamped ? max(-limit, min(value, limit)) : value;
        } else if (clamped && (value < -limit || value > limit)) {
            result = acc_t(0);  // the clamp is flat there (torch.clamp passes gradients at the limits)
        } else {
            result = static_cast<acc_t>(g1[i]) * gain * activation_derivative<acc_t>(e.act, e.order, s, alpha);
            if (e.order == 2) result *= static_cast<acc_t>(g2[i]);
        }
        out[i] = static_cast<scalar_t>(result);
    }
}

// Same sizes, and the same stride wherever a dimension has more than one element: one linear index then
// names the same element in both tensors.
bool same_layout(const at::Tensor& a, const at::Tensor& b) {
    if (a.sizes() != b.sizes()) return false;
    for (int64_t d = 0; d < a.dim(); ++d) {
        if (a.size(d) > 1 && a.stride(d) != b.stride(d)) return false;
    }
    return true;
}

void check_like_x(const at::Tensor& t, const at::Tensor& x, const char* name, bool needed) {
    if (!needed) return;
    TORCH_CHECK(t.device() == x.device() && t.scalar_type() == x.scalar_type(), "bias_act: ", name,
                " must have x's device and dtype");
    TORCH_CHECK(same_layout(t, x), "bias_act: ", name, " must have x's shape and memory layout");
}

template <typename scalar_t>
const scalar_t* optional_data(const at::Tensor& t) {
    return t.numel() > 0 ? t.data_ptr<scalar_t>() : nullptr;
}

}  // namespace

at::Tensor bias_act(const at::Tensor& x, const at::Tensor& b, const at::Tensor& g1, const at::Tensor& g2,
                    int64_t order, int64_t dim, int64_t act, double alpha, double gain, double clamp) {
    TORCH_CHECK(x.is_cuda(), "bias_act: x must be a CUDA tensor");
    TORCH_CHECK(x.is_non_overlapping_and_dense(), "bias_act: x must be non-overlapping and dense");
    TORCH_CHECK(order >= 0 && order <= 2, "bias_act: order must be 0, 1 or 2");
    TORCH_CHECK(act >= kLinear && act <= kSwish, "bias_act: unknown activation number ", act);
    check_like_x(g1, x, "g1", order >= 1);
    check_like_x(g2, x, "g2", order == 2);
    if (b.numel() > 0) {
        TORCH_CHECK(dim >= 0 && dim < x.dim(), "bias_act: dim out of range");
        TORCH_CHECK(b.dim() == 1 && b.is_contiguous() && b.size(0) == x.size(dim),
                    "bias_act: b must be a contiguous 1-D tensor with x.size(dim) elements");
        TORCH_CHECK(b.device() == x.device() && b.scalar_type() == x.scalar_type(),
                    "bias_act: b must have x's device and dtype");
    }

    const at::cuda::OptionalCUDAGuard device_guard(x.device());
    at::Tensor out = at::empty_like(x);
    TORCH_CHECK(same_layout(out, x), "bias_act: could not allocate the output in x's memory layout");
    if (x.numel() == 0) return out;

    Elementwise e;
    e.count = x.numel();
    e.bias_count = b.numel();
    e.bias_every = b.numel() > 0 ? x.stride(dim) : 1;
    e.order = static_cast<int>(order);
    e.act = static_cast<int>(act);
    e.alpha = alpha;
    e.gain = gain;
    e.clamp = clamp;

    constexpr int threads = 256;
    const int64_t blocks = std::min<int64_t>((e.count + threads - 1) / threads, int64_t(1) << 22);
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act", [&] {
        using acc_t = std::conditional_t<std::is_same<scalar_t, double>::value, double, float>;
        bias_act_kernel<scalar_t, acc_t><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
            e, x.data_ptr<scalar_t>(), optional_data<scalar_t>(b), optional_data<scalar_t>(g1),
            optional_data<scalar_t>(g2), out.data_ptr<scalar_t>());
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return out;
}
