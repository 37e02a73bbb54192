"""``x * sigmoid(logits)``, the gate of every attention operation.

SE gates channels (logits (N, C, 1, 1)), the spatial operations of Auto
Learning Attention (Ma et al., NeurIPS 2020) gate positions ((N, 1, H, W)),
and its separable and dilated convolutions gate every element
((N, C, H, W)). The compiled backward recomputes the sigmoid from the logits
instead of keeping it from the forward pass.
"""
import torch
from torch import Tensor

from . import reference
from .checks import check_feature_map, check_logits
from .extension import compiled_ops_available, use_compiled


def sigmoid_gate(x: Tensor, logits: Tensor) -> Tensor:
    """Gate ``x`` with ``sigmoid(logits)``.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).
        logits (Tensor): Shape (N, C, 1, 1), (N, 1, H, W) or (N, C, H, W),
            broadcast over the missing dimensions.

    Returns:
        Tensor: ``x * sigmoid(logits)``, shape (N, C, H, W).
    """
    check_feature_map('sigmoid_gate', x)
    check_logits('sigmoid_gate', 'logits', logits, x, ('N,C,1,1', 'N,1,H,W', 'N,C,H,W'))
    if use_compiled(x, logits):
        return torch.ops.autola_mm.sigmoid_gate(x, logits)
    return reference.sigmoid_gate(x, logits)


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _backward(ctx, grad):
    x, logits = ctx.saved_tensors
    return torch.ops.autola_mm.sigmoid_gate_backward(grad, x, logits)


if compiled_ops_available():
    torch.library.register_autograd(
        'autola_mm::sigmoid_gate', _backward, setup_context=_setup_context)
