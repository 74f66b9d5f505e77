"""StyleGAN2's custom ops: each one function with a CUDA kernel and a pure-PyTorch reference path.

``impl=None`` picks the kernel for CUDA tensors when the plugin builds (lazily, on first CUDA use) and the
reference path otherwise; ``CFGAN_OPS_IMPL=ref`` forces the reference path everywhere; ``status()`` says
which path is active and why.
"""
from .activation import bias_act
from .conv import conv2d_resample
from .dispatch import status
from .resample import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = ["bias_act", "upfirdn2d", "setup_filter", "filter2d", "upsample2d", "downsample2d",
           "conv2d_resample", "status"]
