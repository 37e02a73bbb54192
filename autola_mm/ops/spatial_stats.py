"""Maximum and mean over channels at every position, in one pass.

CBAM's channel pool, the input of its spatial gate and of the spatial
operations of Auto Learning Attention (Ma et al., NeurIPS 2020). The maximum's
gradient is split evenly among the channels that attain it, as
``torch.amax``'s is.
"""
import torch
from torch import Tensor

from . import reference
from .checks import check_channels, check_feature_map
from .extension import compiled_ops_available, use_compiled


def spatial_stats(x: Tensor) -> Tensor:
    """Maximum and mean over channels at every position.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W), C > 0.

    Returns:
        Tensor: Shape (N, 2, H, W); channel 0 is the max, channel 1 the mean.
    """
    check_feature_map('spatial_stats', x)
    check_channels('spatial_stats', x)
    if use_compiled(x):
        return torch.ops.autola_mm.spatial_stats(x)
    return reference.spatial_stats(x)


def _setup_context(ctx, inputs, output):
    x, = inputs
    ctx.save_for_backward(x, output)


def _backward(ctx, grad):
    x, stats = ctx.saved_tensors
    return torch.ops.autola_mm.spatial_stats_backward(grad, x, stats)


if compiled_ops_available():
    torch.library.register_autograd(
        'autola_mm::spatial_stats', _backward, setup_context=_setup_context)
