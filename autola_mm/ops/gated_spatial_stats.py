"""Spatial statistics of the channel-gated map, without materialising it.

CBAM's second pooling (Woo et al., ECCV 2018; the ``CBAM`` operation of Auto
Learning Attention, Ma et al., NeurIPS 2020): ``spatial_stats(x *
sigmoid(channel_logits))``. The compiled operator multiplies by the gate as
it reads ``x`` and keeps only the (N, 2, H, W) result for its backward.
"""
import torch
from torch import Tensor

from . import reference
from .checks import check_channels, check_feature_map, check_logits
from .extension import compiled_ops_available, use_compiled


def gated_spatial_stats(x: Tensor, channel_logits: Tensor) -> Tensor:
    """``spatial_stats(x * sigmoid(channel_logits))``: CBAM's second pooling.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W), C > 0.
        channel_logits (Tensor): Shape (N, C, 1, 1).

    Returns:
        Tensor: Shape (N, 2, H, W), max then mean over the gated channels.
    """
    check_feature_map('gated_spatial_stats', x)
    check_channels('gated_spatial_stats', x)
    check_logits('gated_spatial_stats', 'channel_logits', channel_logits, x, ('N,C,1,1', ))
    if use_compiled(x, channel_logits):
        return torch.ops.autola_mm.gated_spatial_stats(x, channel_logits)
    return reference.gated_spatial_stats(x, channel_logits)


def _setup_context(ctx, inputs, output):
    x, channel_logits = inputs
    ctx.save_for_backward(x, channel_logits, output)


def _backward(ctx, grad):
    x, channel_logits, stats = ctx.saved_tensors
    return torch.ops.autola_mm.gated_spatial_stats_backward(grad, x, channel_logits, stats)


if compiled_ops_available():
    torch.library.register_autograd(
        'autola_mm::gated_spatial_stats', _backward, setup_context=_setup_context)
