"""ResNet's basic block (two 3x3 convolutions) with plugin positions.

Unlike mmdet's BasicBlock it accepts plugins: ``after_conv1`` (after the
first conv, BN and ReLU) and ``after_conv2`` (after the second BN, before the
residual add), where AutoLA (Ma et al., NeurIPS 2020) puts HOGA in its CIFAR
search supernet.
"""
from typing import Optional

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
        conv_cfg (dict, optional): Convolution layer config. Defaults to None.
        norm_cfg (dict): Normalization layer config. Defaults to BN.
        **kwargs: ``downsample``, ``with_cp``, ``plugins`` (positions
            ``'after_conv1'`` and ``'after_conv2'``) and ``init_cfg`` of
            :class:`PluginBlock`.
    """

    expansion = 1
    plugin_positions = ('after_conv1', 'after_conv2')

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 *,
                 stride: int = 1,
                 dilation: int = 1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.conv1 = build_conv_layer(conv_cfg, inplanes, planes, 3, stride=stride,
                                      padding=dilation, dilation=dilation, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, planes)[1]
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, padding=1, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, planes)[1]
        self.build_plugins(dict(after_conv1=planes, after_conv2=planes))

    def branch(self, x: Tensor, *plugin_inputs: Tensor) -> Tensor:
        """conv1-bn1-ReLU, plugins, conv2-bn2, plugins.

        Args:
            x (Tensor): Shape (N, inplanes, H, W).
            *plugin_inputs (Tensor): Further inputs of every plugin.

        Returns:
            Tensor: Shape (N, planes, H / stride, W / stride).
        """
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.forward_plugins(out, 'after_conv1', *plugin_inputs)
        out = self.bn2(self.conv2(out))
        return self.forward_plugins(out, 'after_conv2', *plugin_inputs)
