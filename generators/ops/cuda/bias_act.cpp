// Argument checks and output allocation for the bias_act kernel.
#include <c10/cuda/CUDAGuard.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include "ops.h"

namespace {

// Same shape and the same strides wherever a dimension has more than one element, i.e. the same element
// sits at the same linear memory offset in both tensors.
bool same_layout(const at::Tensor& a, const at::Tensor& b) {
    if (a.sizes() != b.sizes()) return false;
    for (int64_t i = 0; i < a.dim(); ++i)
        if (a.size(i) > 1 && a.stride(i) != b.stride(i)) return false;
    return true;
}

void check_companion(const at::Tensor& t, const at::Tensor& x, const char* name) {
    if (t.numel() == 0) return;
    TORCH_CHECK(t.device() == x.device() && t.scalar_type() == x.scalar_type(), "bias_act: ", name,
                " must have the device and dtype of x");
    TORCH_CHECK(same_layout(t, x), "bias_act: ", name, " must have the shape and memory layout of x");
}

}  // namespace

at::Tensor bias_act(at::Tensor x, at::Tensor b, at::Tensor g1, at::Tensor g2, int64_t mode, int64_t dim,
                    int64_t act, double alpha, double gain, double clamp) {
    TORCH_CHECK(x.is_cuda(), "bias_act: x must be a CUDA tensor");
    TORCH_CHECK(x.is_non_overlapping_and_dense(), "bias_act: x must be non-overlapping and dense");
    TORCH_CHECK(mode >= 0 && mode <= 2, "bias_act: mode must be 0, 1 or 2");
    TORCH_CHECK(act >= 0 && act <= 8, "bias_act: unknown activation id ", act);
    TORCH_CHECK(mode == 0 || g1.numel() == x.numel(), "bias_act: gradient modes need g1");
    TORCH_CHECK(mode != 2 || g2.numel() == x.numel(), "bias_act: mode 2 needs g2");
    check_companion(g1, x, "g1");
    check_companion(g2, x, "g2");
    if (b.numel() > 0) {
        TORCH_CHECK(b.dim() == 1 && b.is_contiguous(), "bias_act: b must be a contiguous 1-D tensor");
        TORCH_CHECK(b.device() == x.device() && b.scalar_type() == x.scalar_type(),
                    "bias_act: b must have the device and dtype of x");
        TORCH_CHECK(dim >= 0 && dim < x.dim(), "bias_act: dim out of range");
        TORCH_CHECK(b.size(0) == x.size(dim), "bias_act: b must have x.size(dim) elements");
    }

    const at::cuda::OptionalCUDAGuard guard(x.device());
    at::Tensor y = at::empty_like(x);
    TORCH_CHECK(same_layout(y, x), "bias_act: could not allocate the output in the layout of x");
    if (x.numel() == 0) return y;

    BiasActParams p;
    p.size = x.numel();
    p.b_size = b.numel();
    p.b_stride = b.numel() > 0 ? x.stride(dim) : 1;
    p.mode = static_cast<int>(mode);
    p.act = static_cast<int>(act);
    p.alpha = alpha;
    p.gain = gain;
    p.clamp = clamp;
    launch_bias_act(p, x, b, g1, g2, y);
    return y;
}
