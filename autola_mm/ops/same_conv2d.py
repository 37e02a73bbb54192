"""A stride-1, size-keeping, grouped convolution computed directly.

The convolutions inside the gates of Auto Learning Attention (Ma et al.,
NeurIPS 2020) have one or two input channels per group: the depthwise 3x3
convolutions (dilated or not) of the separable gates, and the convolutions
over the 2-map channel pool of CBAM (7x7) and of the spatial gates. oneDNN,
which runs ``torch.nn.functional.conv2d`` on the CPU, is built for many
channels: on such convolutions it spends most of its time in setup and layout
conversion (a 7x7 2 -> 1 convolution of 64 x 2 x 32 x 32, forward and
backward, about 3 ms). The compiled kernel sums shifted rows of the planes,
reads channel slices of a map without copying them, and needs no setup.
Padding is ``dilation * (k - 1) // 2`` zeros, so odd kernels keep H x W.
"""
import torch
from torch import Tensor

from . import reference
from .checks import check_conv_weight, check_feature_map
from .extension import compiled_ops_available, use_compiled


def same_conv2d(x: Tensor, weight: Tensor, dilation: int = 1, groups: int = 1) -> Tensor:
    """Convolve ``x`` with stride 1 and the zero padding that keeps H x W.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).
        weight (Tensor): Shape (C_out, C / groups, kH, kW), kH and kW odd.
        dilation (int): Spacing of the kernel taps. Default: 1.
        groups (int): Channel groups; C and C_out are multiples of it. Default: 1.

    Returns:
        Tensor: Shape (N, C_out, H, W).
    """
    check_feature_map('same_conv2d', x)
    check_conv_weight('same_conv2d', weight, x, dilation, groups)
    if use_compiled(x, weight):
        return torch.ops.autola_mm.same_conv2d(x, weight, dilation, groups)
    return reference.same_conv2d(x, weight, dilation, groups)


def _setup_context(ctx, inputs, output):
    x, weight, dilation, groups = inputs
    ctx.save_for_backward(x, weight)
    ctx.dilation, ctx.groups = dilation, groups


def _backward(ctx, grad):
    x, weight = ctx.saved_tensors
    grad_x = grad_weight = None
    if ctx.needs_input_grad[0]:
        grad_x = torch.ops.autola_mm.same_conv2d_backward_input(
            grad, x, weight, ctx.dilation, ctx.groups)
    if ctx.needs_input_grad[1]:
        grad_weight = torch.ops.autola_mm.same_conv2d_backward_weight(
            grad, x, weight, ctx.dilation, ctx.groups)
    return grad_x, grad_weight, None, None


if compiled_ops_available():
    torch.library.register_autograd(
        'autola_mm::same_conv2d', _backward, setup_context=_setup_context)
