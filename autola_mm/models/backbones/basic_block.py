"""ResNet's basic block (two 3x3 convolutions) with plugin positions.

Unlike mmdet's BasicBlock it accepts plugins: ``after_conv1`` (after the
first conv, BN and ReLU) and ``after_conv2`` (after the second BN, before the
residual add), where AutoLA (Ma et al., NeurIPS 2020) puts HOGA in its CIFAR
search supernet.
"""
from typing import Optional, Sequence

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import Tensor

from .plugin_block import PluginBlock


class BasicBlock(PluginBlock):
    """Two 3x3 conv-BN pairs and an identity (or projected) shortcut.

    Layer names follow torchvision (``conv1``, ``bn1``, ``conv2``, ``bn2``,
    ``downsample``) so its checkpoints load; plugins are named by
    ``build_plugin_layer`` (their ``_abbr_`` plus an optional ``postfix``).

    Args:
        inplanes (int): Input channels.
        planes (int): Output channels of both convolutions.
        stride (int): Stride of the first convolution. Defaults to 1.
        dilation (int): Dilation of the first convolution. Defaults to 1.
        downsample (nn.Module, optional): Projection of the shortcut when the
            shape changes. Defaults to None.
        with_cp (bool): Recompute the block in the backward pass (activation
            checkpointing) to save memory. Defaults to False.
        conv_cfg (dict, optional): Convolution layer config. Defaults to None.
        norm_cfg (dict): Normalization layer config. Defaults to BN.
        plugins (Sequence[dict], optional): ``dict(cfg=..., position=...)``
            with position ``'after_conv1'`` or ``'after_conv2'``.
        init_cfg (dict | list[dict], optional): Initialization config.
    """

    expansion = 1
    plugin_positions = ('after_conv1', 'after_conv2')

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 plugins: Optional[Sequence[dict]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        plugins = self.check_plugins(plugins)
        self.with_cp = with_cp
        self.conv1 = build_conv_layer(conv_cfg, inplanes, planes, 3, stride=stride,
                                      padding=dilation, dilation=dilation, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, planes)[1]
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, padding=1, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, planes)[1]
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.build_plugins(plugins, dict(after_conv1=planes, after_conv2=planes))

    def residual(self, x: Tensor) -> Tensor:
        """conv1-bn1-ReLU, plugins, conv2-bn2, plugins, plus the identity path.

        Args:
            x (Tensor): Shape (N, inplanes, H, W).

        Returns:
            Tensor: Shape (N, planes, H / stride, W / stride), before the last ReLU.
        """
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.forward_plugins(out, 'after_conv1')
        out = self.bn2(self.conv2(out))
        out = self.forward_plugins(out, 'after_conv2')
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity
