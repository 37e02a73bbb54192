"""Average and maximum of every channel over H x W, in one pass.

The squeeze of SE and the channel pool of CBAM and SE_A_M in Auto Learning
Attention (Ma et al., NeurIPS 2020). The maximum's gradient is split evenly
among the positions that attain it, as ``torch.amax``'s is.
"""
from typing import Tuple

import torch
from torch import Tensor

from . import reference
from .checks import check_feature_map, check_positions
from .extension import compiled_ops_available, use_compiled


def channel_stats(x: Tensor) -> Tuple[Tensor, Tensor]:
    """Average and maximum of every channel over its H x W positions.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W), H * W > 0.

    Returns:
        tuple[Tensor, Tensor]: ``(avg, max)``, each of shape (N, C, 1, 1).
    """
    check_feature_map('channel_stats', x)
    check_positions('channel_stats', x)
    if use_compiled(x):
        avg, max_ = torch.ops.autola_mm.channel_stats(x)
        return avg, max_
    return reference.channel_stats(x)


def _setup_context(ctx, inputs, output):
    x, = inputs
    ctx.save_for_backward(x, output[1])


def _backward(ctx, grad_avg, grad_max):
    x, max_ = ctx.saved_tensors
    return torch.ops.autola_mm.channel_stats_backward(grad_avg, grad_max, x, max_)


if compiled_ops_available():
    torch.library.register_autograd(
        'autola_mm::channel_stats', _backward, setup_context=_setup_context)
