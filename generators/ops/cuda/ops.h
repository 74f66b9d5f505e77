// Entry points of the cfgan ops extension, defined in the .cu files and bound to Python in bindings.cpp.
// generators/ops/activation.py and generators/ops/resample.py are the callers; they document the maths.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

// order 0: clamp(act(x + b) * gain, -clamp, clamp); order 1: g1 times its derivative with respect to x;
// order 2: g1 * g2 times its second derivative. An empty b means no bias; clamp < 0 means no clamp.
at::Tensor bias_act(const at::Tensor& x, const at::Tensor& b, const at::Tensor& g1, const at::Tensor& g2,
                    int64_t order, int64_t dim, int64_t act, double alpha, double gain, double clamp);

// Per channel and axis: insert up - 1 zeros after each sample, pad by (before, after) (negative crops),
// correlate with `taps` [height, width], keep every down-th sample.
at::Tensor upfirdn2d(const at::Tensor& x, const at::Tensor& taps, int64_t up_x, int64_t down_x, int64_t before_x,
                     int64_t after_x, int64_t up_y, int64_t down_y, int64_t before_y, int64_t after_y);
