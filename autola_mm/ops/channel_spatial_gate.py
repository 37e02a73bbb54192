"""CBAM's two gates in one pass: ``x * sigmoid(channel) * sigmoid(spatial)``.

The output of CBAM (Woo et al., ECCV 2018; the ``CBAM`` operation of Auto
Learning Attention, Ma et al., NeurIPS 2020). The compiled operator writes the
output straight from ``x`` without the channel-gated intermediate, and its
backward reads only ``grad`` and ``x`` (plus the small logits).
"""
import torch
from torch import Tensor

from . import reference
from .checks import check_feature_map, check_logits
from .extension import compiled_ops_available, use_compiled


def channel_spatial_gate(x: Tensor, channel_logits: Tensor, spatial_logits: Tensor) -> Tensor:
    """Apply CBAM's two gates: ``x * sigmoid(channel) * sigmoid(spatial)``.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).
        channel_logits (Tensor): Shape (N, C, 1, 1).
        spatial_logits (Tensor): Shape (N, 1, H, W).

    Returns:
        Tensor: Shape (N, C, H, W).
    """
    check_feature_map('channel_spatial_gate', x)
    check_logits('channel_spatial_gate', 'channel_logits', channel_logits, x, ('N,C,1,1', ))
    check_logits('channel_spatial_gate', 'spatial_logits', spatial_logits, x, ('N,1,H,W', ))
    if use_compiled(x, channel_logits, spatial_logits):
        return torch.ops.autola_mm.channel_spatial_gate(x, channel_logits, spatial_logits)
    return reference.channel_spatial_gate(x, channel_logits, spatial_logits)


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _backward(ctx, grad):
    x, channel_logits, spatial_logits = ctx.saved_tensors
    return torch.ops.autola_mm.channel_spatial_gate_backward(
        grad, x, channel_logits, spatial_logits)


if compiled_ops_available():
    torch.library.register_autograd(
        'autola_mm::channel_spatial_gate', _backward, setup_context=_setup_context)
