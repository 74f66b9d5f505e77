// Declarations shared by the op sources: the Python-facing functions (defined in the .cpp files, bound in
// module.cpp) and the kernel launchers (defined in the .cu files, called after argument validation).
#pragma once
#include <ATen/core/Tensor.h>

// y = clamp(act(x + b) * gain) (mode 0), its first derivative applied to g1 (mode 1) or its second
// derivative applied to g1 * g2 (mode 2). Empty tensors stand for "absent".
at::Tensor bias_act(at::Tensor x, at::Tensor b, at::Tensor g1, at::Tensor g2, int64_t mode, int64_t dim,
                    int64_t act, double alpha, double gain, double clamp);

// Correlate the zero-upsampled, padded x with `taps` (already flipped and scaled), keep every down-th pixel.
at::Tensor upfirdn2d(at::Tensor x, at::Tensor taps, int64_t upx, int64_t upy, int64_t downx, int64_t downy,
                     int64_t padx0, int64_t padx1, int64_t pady0, int64_t pady1);

struct BiasActParams {
    int64_t size;      // number of elements of x
    int64_t b_stride;  // x.stride(dim): consecutive elements sharing one bias value
    int64_t b_size;    // number of bias values (0: no bias)
    int mode;
    int act;
    double alpha;
    double gain;
    double clamp;      // < 0: no clamping
};

void launch_bias_act(const BiasActParams& p, const at::Tensor& x, const at::Tensor& b, const at::Tensor& g1,
                     const at::Tensor& g2, at::Tensor& y);

struct Upfirdn2dParams {
    int batch, channels, in_h, in_w, out_h, out_w;
    int64_t in_stride_n, in_stride_c, in_stride_h, in_stride_w;
    int64_t out_stride_n, out_stride_c, out_stride_h, out_stride_w;
    int up_x, up_y, down_x, down_y, pad_x0, pad_y0;
    int taps_h, taps_w;
    bool channels_last;  // walk the output in (n, y, x, c) order so neighbouring threads touch neighbours
};

void launch_upfirdn2d(const Upfirdn2dParams& p, const at::Tensor& x, const at::Tensor& taps, at::Tensor& y);
