// The Python module of the cfgan ops extension: every op lives in one library, so one build compiles them all.
#include <torch/extension.h>

#include "ops.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
    module.def("bias_act", &bias_act, "bias + activation + gain + clamp (order 0) and its derivatives (orders 1, 2)");
    module.def("upfirdn2d", &upfirdn2d, "zero-stuff, pad, correlate and decimate each channel of a 4-D tensor");
}
