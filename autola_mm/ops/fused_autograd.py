"""The autograd structure of the fused backward passes of channel_attention and cbam_attention.

Composed from the operations, autograd gives ``x`` one full-size gradient per
use of ``x`` (the channel pool, the gated pool, the gates) and adds them. The
fused path instead lets the channel pool's node own the whole gradient of
``x``: the other nodes read ``x`` without an autograd edge to it, compute only
the gradients of their small inputs, and leave a function that writes the
gradient of ``x`` in one pass in a :class:`InputGradient` shared by the nodes
of one call. The channel pool's node runs last in the backward pass (every
other node depends on its outputs, at least through the empty ``order``
tensor it returns) and calls that function with the gradients of the pooled
statistics. The small logit networks between the nodes (MLP, conv, BN)
backpropagate as usual, parameters included.
"""
from typing import Callable, Optional

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .extension import use_compiled


def use_fused_backward(x: Tensor) -> bool:
    """Whether a call on ``x`` takes the fused path: eager training on the compiled ops."""
    return (x.requires_grad and torch.is_grad_enabled() and not torch.compiler.is_compiling()
            and use_compiled(x))


class InputGradient:
    """The pending gradient of ``x`` of one fused call.

    Attributes:
        write (Callable, optional): Maps ``(grad_avg, grad_max)``, the
            gradients of the channel statistics, to the gradient of ``x``; set
            by the node whose backward runs just before the channel pool's.
            None leaves the channel pool its own gradient only: the call's
            other uses of ``x`` then went through the plain operations (with
            autograd edges to ``x``) because they did not cover the logits.
        grad (Tensor, optional): The gradient of the call's output, for a node
            that needs it after the output's node ran (CBAM's gated pool).
        spatial (Tensor, optional): CBAM's spatial logits, likewise.
    """

    __slots__ = ('write', 'grad', 'spatial')

    def __init__(self):
        self.write: Optional[Callable[[Tensor, Tensor], Tensor]] = None
        self.grad: Optional[Tensor] = None
        self.spatial: Optional[Tensor] = None


class ChannelPoolOwningInputGradient(torch.autograd.Function):
    """``channel_stats(x)`` whose backward returns the whole gradient of ``x``.

    Returns ``(avg, max, order)``: the statistics, each (N, C, 1, 1), and an
    empty tensor that the call's other nodes take as an input so that this
    node's backward runs after theirs.
    """

    @staticmethod
    def forward(ctx, x, input_gradient):
        avg, max_ = torch.ops.autola_mm.channel_stats(x)
        ctx.save_for_backward(x, max_)
        ctx.input_gradient = input_gradient
        return avg, max_, x.new_empty(0)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_avg, grad_max, grad_order):
        pending = ctx.input_gradient
        if pending.write is not None:
            grad_x = pending.write(grad_avg, grad_max)
        elif pending.grad is None:
            x, max_ = ctx.saved_tensors
            grad_x = torch.ops.autola_mm.channel_stats_backward(grad_avg, grad_max, x, max_)
        else:
            raise RuntimeError('the fused backward of cbam_attention got no gradient through '
                               'its gated pool: spatial_logits must depend on the pooled map')
        pending.write = pending.grad = pending.spatial = None
        return grad_x, None
