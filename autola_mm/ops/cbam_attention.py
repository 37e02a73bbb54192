"""CBAM's attention with a fused backward that writes the gradient of x once.

Convolutional Block Attention Module (Woo et al., ECCV 2018), the ``CBAM``
operation of Auto Learning Attention (Ma et al., NeurIPS 2020)::

    avg, max = channel_stats(x)
    channel = channel_logits(avg, max)                        # the channel MLP
    spatial = spatial_logits(gated_spatial_stats(x, channel))  # conv + BN
    out = channel_spatial_gate(x, channel, spatial)

Composed from those operations, autograd computes one full-size gradient of
``x`` per use of ``x`` (three) and adds them. When training eagerly on the
compiled path the gates' and the gated pool's backward passes only reduce
the logits' gradients (one pass over ``grad`` and ``x``, one over ``x``),
and the channel pool's node writes the gradient of ``x`` from all three uses
in a last pass (see :mod:`.fused_autograd`). Everywhere else (inference, the
reference path, ``x`` without gradient, under ``torch.compile``) it is
exactly the composition above.
"""
from typing import Callable

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .channel_spatial_gate import channel_spatial_gate
from .channel_stats import channel_stats
from .checks import check_channels, check_feature_map, check_positions
from .extension import use_compiled
from .fused_autograd import ChannelPoolOwningInputGradient, InputGradient, use_fused_backward
from .gated_spatial_stats import gated_spatial_stats


def cbam_attention(x: Tensor, channel_logits: Callable[[Tensor, Tensor], Tensor],
                   spatial_logits: Callable[[Tensor], Tensor]) -> Tensor:
    """CBAM: gate the channels of ``x``, then its positions.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W), C > 0 and H * W > 0.
        channel_logits (Callable): Maps the channel statistics ``(avg, max)``,
            each (N, C, 1, 1), to channel logits (N, C, 1, 1).
        spatial_logits (Callable): Maps the spatial statistics of the
            channel-gated map, (N, 2, H, W) (max then mean over channels), to
            spatial logits (N, 1, H, W).

    Returns:
        Tensor: ``x * sigmoid(channel) * sigmoid(spatial)``, (N, C, H, W).
    """
    check_feature_map('cbam_attention', x)
    check_channels('cbam_attention', x)
    check_positions('cbam_attention', x)
    if use_fused_backward(x):
        return _fused_cbam_attention(x, channel_logits, spatial_logits)
    channel = channel_logits(*channel_stats(x))
    spatial = spatial_logits(gated_spatial_stats(x, channel))
    return channel_spatial_gate(x, channel, spatial)


def _fused_cbam_attention(x: Tensor, channel_logits, spatial_logits) -> Tensor:
    """The composition, with the channel pool's node owning the whole gradient of x."""
    input_gradient = InputGradient()
    avg, max_, order = ChannelPoolOwningInputGradient.apply(x, input_gradient)
    channel = channel_logits(avg, max_)
    if not use_compiled(x, channel):
        return channel_spatial_gate(x, channel, spatial_logits(gated_spatial_stats(x, channel)))
    pooled = _GatedPool.apply(x.detach(), channel, max_.detach(), order, input_gradient)
    spatial = spatial_logits(pooled)
    if not use_compiled(x, spatial):
        raise ValueError(f'cbam_attention: spatial_logits returned {spatial.dtype} logits on '
                         f'{spatial.device} for x of {x.dtype} on {x.device}; the compiled '
                         'path needs them alike (or AUTOLA_OPS=reference)')
    return _Gates.apply(x.detach(), channel, spatial, order, input_gradient)


class _Gates(torch.autograd.Function):
    """``channel_spatial_gate`` of ``x`` (read without an autograd edge).

    Its backward returns the logits' gradients and leaves ``grad`` to the
    gated pool's node, which runs next.
    """

    @staticmethod
    def forward(ctx, x, channel, spatial, order, input_gradient):
        ctx.save_for_backward(x, channel, spatial)
        ctx.input_gradient = input_gradient
        return torch.ops.autola_mm.channel_spatial_gate(x, channel, spatial)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, channel, spatial = ctx.saved_tensors
        grad_channel, grad_spatial = torch.ops.autola_mm.cbam_backward_gate_logits(
            grad, x, channel, spatial)
        ctx.input_gradient.grad = grad
        ctx.input_gradient.spatial = spatial
        return None, grad_channel, grad_spatial, grad.new_zeros(0), None


class _GatedPool(torch.autograd.Function):
    """``gated_spatial_stats`` of ``x`` (read without an autograd edge).

    Its backward returns the channel logits' gradient and leaves the function
    that writes x's gradient from all three uses to the channel pool's node.
    """

    @staticmethod
    def forward(ctx, x, channel, channel_max, order, input_gradient):
        pooled = torch.ops.autola_mm.gated_spatial_stats(x, channel)
        ctx.save_for_backward(x, channel, channel_max, pooled)
        ctx.input_gradient = input_gradient
        return pooled

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_pooled):
        ops = torch.ops.autola_mm
        x, channel, channel_max, pooled = ctx.saved_tensors
        grad, spatial = ctx.input_gradient.grad, ctx.input_gradient.spatial
        grad_channel, channel_ties = ops.cbam_backward_pool_logits(
            grad_pooled, x, channel, pooled, channel_max)

        def write(grad_avg, grad_max):
            return ops.cbam_backward_input(grad, x, channel, spatial, pooled, grad_pooled,
                                           channel_max, channel_ties, grad_avg, grad_max)

        ctx.input_gradient.write = write
        return None, grad_channel, None, grad_pooled.new_zeros(0), None
