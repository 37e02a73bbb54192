"""Pure PyTorch reference of the attention core.

Every function here has a compiled counterpart in ``autola_mm.ops`` with the
same signature and the same numbers; this file is the specification the
compiled kernels are tested against.
"""
from typing import Tuple

import torch
from torch import Tensor


def channel_stats(x: Tensor) -> Tuple[Tensor, Tensor]:
    """Average and maximum of every channel over its H x W positions.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).

    Returns:
        tuple[Tensor, Tensor]: ``(avg, max)``, each of shape (N, C, 1, 1).
    """
    return x.mean(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)


def spatial_stats(x: Tensor) -> Tensor:
    """Maximum and mean over channels at every position (CBAM's channel pool).

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).

    Returns:
        Tensor: Shape (N, 2, H, W); channel 0 is the max, channel 1 the mean.
    """
    return torch.cat((x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)), dim=1)


def sigmoid_gate(x: Tensor, logits: Tensor) -> Tensor:
    """Gate ``x`` with ``sigmoid(logits)``.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).
        logits (Tensor): Shape (N, C, 1, 1), (N, 1, H, W) or (N, C, H, W),
            broadcast over the missing dimensions.

    Returns:
        Tensor: ``x * sigmoid(logits)``, shape (N, C, H, W).
    """
    return x * torch.sigmoid(logits)


def gated_spatial_stats(x: Tensor, channel_logits: Tensor) -> Tensor:
    """``spatial_stats(x * sigmoid(channel_logits))``: CBAM's second pooling.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).
        channel_logits (Tensor): Shape (N, C, 1, 1).

    Returns:
        Tensor: Shape (N, 2, H, W), max then mean over the gated channels.
    """
    return spatial_stats(sigmoid_gate(x, channel_logits))


def channel_spatial_gate(x: Tensor, channel_logits: Tensor,
                         spatial_logits: Tensor) -> Tensor:
    """Apply CBAM's two gates: ``x * sigmoid(channel) * sigmoid(spatial)``.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).
        channel_logits (Tensor): Shape (N, C, 1, 1).
        spatial_logits (Tensor): Shape (N, 1, H, W).

    Returns:
        Tensor: Shape (N, C, H, W).
    """
    return sigmoid_gate(sigmoid_gate(x, channel_logits), spatial_logits)


def same_conv2d(x: Tensor, weight: Tensor, dilation: int = 1, groups: int = 1) -> Tensor:
    """Convolve ``x`` with stride 1 and the zero padding that keeps H x W.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).
        weight (Tensor): Shape (C_out, C / groups, kH, kW), kH and kW odd.
        dilation (int): Spacing of the kernel taps. Default: 1.
        groups (int): Channel groups. Default: 1.

    Returns:
        Tensor: Shape (N, C_out, H, W).
    """
    padding = (dilation * (weight.shape[2] - 1) // 2, dilation * (weight.shape[3] - 1) // 2)
    return torch.nn.functional.conv2d(x, weight, padding=padding, dilation=dilation, groups=groups)


def pointwise_conv2d(x: Tensor, weight: Tensor) -> Tensor:
    """Convolve ``x`` with a bias-free 1 x 1 kernel.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).
        weight (Tensor): Shape (C_out, C, 1, 1).

    Returns:
        Tensor: Shape (N, C_out, H, W).
    """
    return torch.nn.functional.conv2d(x, weight)
