"""The 1 x 1 convolution, as batched matrix products over NCHW maps.

HOGA (Auto Learning Attention, Ma et al., NeurIPS 2020) spends most of its
time in 1 x 1 convolutions: the projection (5C/4 -> C -> C) and the pointwise
convolutions of its separable gates. On the CPU, ``torch.nn.functional.conv2d``
runs them on oneDNN, which reorders each NCHW map into its blocked layout and
back; the compiled operator multiplies the weight with the (N, C, H * W) view
of the map in place (N=16, 320 -> 256 channels, 56 x 56, 2 threads, forward
and backward: about 190 ms against 350 ms).
"""
import torch
from torch import Tensor

from . import reference
from .checks import check_feature_map, check_pointwise_weight
from .extension import compiled_ops_available, use_compiled


def pointwise_conv2d(x: Tensor, weight: Tensor) -> Tensor:
    """Convolve ``x`` with a bias-free 1 x 1 kernel.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).
        weight (Tensor): Shape (C_out, C, 1, 1).

    Returns:
        Tensor: Shape (N, C_out, H, W).
    """
    check_feature_map('pointwise_conv2d', x)
    check_pointwise_weight('pointwise_conv2d', weight, x)
    if use_compiled(x, weight):
        return torch.ops.autola_mm.pointwise_conv2d(x, weight)
    return reference.pointwise_conv2d(x, weight)


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _backward(ctx, grad):
    x, weight = ctx.saved_tensors
    grad_x = grad_weight = None
    if ctx.needs_input_grad[0]:
        grad_x = torch.ops.autola_mm.pointwise_conv2d_backward_input(grad, x, weight)
    if ctx.needs_input_grad[1]:
        grad_weight = torch.ops.autola_mm.pointwise_conv2d_backward_weight(grad, x, weight)
    return grad_x, grad_weight


if compiled_ops_available():
    torch.library.register_autograd(
        'autola_mm::pointwise_conv2d', _backward, setup_context=_setup_context)
