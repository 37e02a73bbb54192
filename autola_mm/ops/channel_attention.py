"""Channel attention (SE, SE_A_M) with a fused backward that writes the gradient of x once.

Squeeze-and-Excitation (Hu et al., CVPR 2018) and the ``SE`` / ``SE_A_M``
operations of Auto Learning Attention (Ma et al., NeurIPS 2020)::

    out = sigmoid_gate(x, channel_logits(*channel_stats(x)))

Composed from those operations, autograd computes one full-size gradient of
``x`` for the gate and one for the pool, and adds them. When training eagerly
on the compiled path the gate's backward only reduces the logits' gradient
(one pass over ``grad`` and ``x``), and the pool's node writes the gradient
of ``x`` from both uses in a second pass (see :mod:`.fused_autograd`).
Everywhere else (inference, the reference path, ``x`` without gradient,
under ``torch.compile``) it is exactly the composition.
"""
from typing import Callable

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .channel_stats import channel_stats
from .checks import check_feature_map, check_logits, check_positions
from .extension import use_compiled
from .fused_autograd import ChannelPoolOwningInputGradient, InputGradient, use_fused_backward
from .sigmoid_gate import sigmoid_gate


def channel_attention(x: Tensor, channel_logits: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """Gate the channels of ``x`` with ``sigmoid(channel_logits(avg, max))``.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W), H * W > 0.
        channel_logits (Callable): Maps the channel statistics ``(avg, max)``,
            each (N, C, 1, 1), to channel logits (N, C, 1, 1); SE uses only
            ``avg``.

    Returns:
        Tensor: ``x * sigmoid(logits)``, shape (N, C, H, W).
    """
    check_feature_map('channel_attention', x)
    check_positions('channel_attention', x)
    if not use_fused_backward(x):
        logits = channel_logits(*channel_stats(x))
        check_logits('channel_attention', 'channel_logits(avg, max)', logits, x, ('N,C,1,1', ))
        return sigmoid_gate(x, logits)
    input_gradient = InputGradient()
    avg, max_, order = ChannelPoolOwningInputGradient.apply(x, input_gradient)
    logits = channel_logits(avg, max_)
    check_logits('channel_attention', 'channel_logits(avg, max)', logits, x, ('N,C,1,1', ))
    if not use_compiled(x, logits):
        return sigmoid_gate(x, logits)
    return _ChannelGate.apply(x.detach(), logits, max_.detach(), order, input_gradient)


class _ChannelGate(torch.autograd.Function):
    """``sigmoid_gate`` of a channel-pooled ``x`` (read without an autograd edge).

    Its backward returns the logits' gradient and leaves the writing of x's
    gradient to the channel pool's node.
    """

    @staticmethod
    def forward(ctx, x, logits, channel_max, order, input_gradient):
        ctx.save_for_backward(x, logits, channel_max)
        ctx.input_gradient = input_gradient
        return torch.ops.autola_mm.sigmoid_gate(x, logits)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        ops = torch.ops.autola_mm
        x, logits, channel_max = ctx.saved_tensors
        grad_logits, channel_ties = ops.channel_attention_backward_logits(
            grad, x, logits, channel_max)

        def write(grad_avg, grad_max):
            return ops.channel_attention_backward_input(grad, x, logits, channel_max,
                                                        channel_ties, grad_avg, grad_max)

        ctx.input_gradient.write = write
        return None, grad_logits, None, grad.new_zeros(0), None
