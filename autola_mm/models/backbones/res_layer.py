"""One ResNet stage: a sequence of residual blocks, the first one strided."""
from typing import Optional, Type

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import Sequential
from torch import Tensor

from .plugin_block import PluginBlock


class ResLayer(Sequential):
    """A stage: blocks applied in order, each given the same plugin inputs.

    Calling the stage (not its blocks one by one) keeps forward hooks on the
    stage working, as the analyses use them.
    """

    def forward(self, x: Tensor, *plugin_inputs: Tensor) -> Tensor:
        """Apply the blocks.

        Args:
            x (Tensor): Input of shape (N, C_in, H, W).
            *plugin_inputs (Tensor): Further inputs of every block's plugins
                (a search model's mixing weights); none for ordinary plugins.

        Returns:
            Tensor: Output of the last block, (N, C_out, H / stride, W / stride).
        """
        for block in self:
            x = block(x, *plugin_inputs)
        return x


def make_res_layer(block: Type[PluginBlock],
                   inplanes: int,
                   planes: int,
                   num_blocks: int,
                   *,
                   stride: int = 1,
                   conv_cfg: Optional[dict] = None,
                   norm_cfg: dict = dict(type='BN'),
                   **block_kwargs) -> ResLayer:
    """Build a stage of ``num_blocks`` blocks, as torchvision's ``_make_layer``.

    The first block takes the stride and, when the shape changes, a shortcut
    projection ``downsample = Sequential(1x1 conv, norm)``; every block gets
    the same ``block_kwargs``.

    Args:
        block (type): :class:`BasicBlock` or :class:`Bottleneck`.
        inplanes (int): Input channels of the stage.
        planes (int): Base width of the blocks (output is
            ``planes * block.expansion``).
        num_blocks (int): Number of blocks.
        stride (int): Stride of the first block. Defaults to 1.
        conv_cfg (dict, optional): Convolution layer config.
        norm_cfg (dict): Normalization layer config.
        **block_kwargs: Further arguments of every block (``dilation``,
            ``plugins``, ``with_cp``, ``widen_factor``).

    Returns:
        ResLayer: The stage; its blocks are named ``0``, ``1``, ...
    """
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out_channels:
        downsample = nn.Sequential(
            build_conv_layer(conv_cfg, inplanes, out_channels, 1, stride=stride, bias=False),
            build_norm_layer(norm_cfg, out_channels)[1])
    layers = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, **block_kwargs)
    blocks = [block(inplanes, planes, stride=stride, downsample=downsample, **layers)]
    blocks += [block(out_channels, planes, **layers) for _ in range(1, num_blocks)]
    return ResLayer(*blocks)
