// Python bindings of the cfgan ops extension: one module for all ops, so one build compiles everything.
#include <torch/extension.h>
#include "ops.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("bias_act", &bias_act, "fused bias + activation + gain + clamp, and its derivatives");
    m.def("upfirdn2d", &upfirdn2d, "upsample, pad, FIR-filter (correlate) and downsample 2-D images");
}
