"""Channels-last convolutions for the small candidates of the AutoLA supernet.

The candidate operations of Auto Learning Attention (Ma et al., NeurIPS 2020)
convolve channel groups of a few channels (4 in the first ResNet-20 stage) and
the 2-map channel pool. On the CPU, oneDNN runs such convolutions several
times slower in NCHW than in NHWC, the backward pass above all (one thread,
forward and backward, 64 x 4 x 32 x 32: a depthwise 3x3 6.2 ms against 1.5 ms,
the 7x7 2 -> 1 convolution of CBAM 14.6 ms against 5.8 ms). The first-order
ResNet-20 search step (batch 64, 2 threads) takes about 10% less time (4.19 s
against 4.67 s, median of both supernets alternating in one process). These
hooks run every convolution on a channels-last copy of its input and hand an
NCHW result on, so the modules, their parameters and every other layer stay
as they are; the numbers are those of NCHW up to rounding.
"""
from typing import List, Tuple

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle


def _to_channels_last(module: nn.Module, args: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
    """Forward pre-hook: the convolution's input (N, C, H, W) in channels-last."""
    return (args[0].contiguous(memory_format=torch.channels_last), *args[1:])


def _to_contiguous(module: nn.Module, args: Tuple[Tensor, ...], output: Tensor) -> Tensor:
    """Forward hook: the convolution's output (N, C, H, W) back in NCHW."""
    return output.contiguous()


def run_convs_channels_last(module: nn.Module) -> List[RemovableHandle]:
    """Make every ``nn.Conv2d`` below ``module`` compute in channels-last.

    Args:
        module (nn.Module): Root of the convolutions, e.g. a candidate operation.

    Returns:
        list[RemovableHandle]: The hooks, two per convolution.
    """
    handles = []
    for conv in module.modules():
        if isinstance(conv, nn.Conv2d):
            handles.append(conv.register_forward_pre_hook(_to_channels_last))
            handles.append(conv.register_forward_hook(_to_contiguous))
    return handles
