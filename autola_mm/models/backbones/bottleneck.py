"""ResNet's bottleneck block (1x1, 3x3, 1x1 convolutions) with plugin positions.

The positions are mmdet's: ``after_conv1`` and ``after_conv2`` (after conv,
BN and ReLU) and ``after_conv3`` (after the third BN, before the residual
add), so AutoLA's HOGA (Ma et al., NeurIPS 2020), SE and CBAM go where mmdet
puts its own plugins.
"""
from typing import Optional

from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import Tensor

from .plugin_block import PluginBlock


class Bottleneck(PluginBlock):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, and a shortcut.

    The stride sits on the 3x3 convolution (torchvision's "ResNet v1.5");
    layer names follow torchvision (``conv1``..``conv3``, ``bn1``..``bn3``,
    ``downsample``) so its checkpoints load, the wide variant included.

    Args:
        inplanes (int): Input channels.
        planes (int): Base width; the block outputs ``planes * 4`` channels.
        stride (int): Stride of the 3x3 convolution. Defaults to 1.
        dilation (int): Dilation of the 3x3 convolution. Defaults to 1.
        widen_factor (int): The inner (1x1 and 3x3) width is
            ``planes * widen_factor``; 2 gives Wide ResNet-50-2's block.
            Defaults to 1.
        conv_cfg (dict, optional): Convolution layer config. Defaults to None.
        norm_cfg (dict): Normalization layer config. Defaults to BN.
        **kwargs: ``downsample``, ``with_cp``, ``plugins`` (positions
            ``'after_conv1'``, ``'after_conv2'`` and ``'after_conv3'``) and
            ``init_cfg`` of :class:`PluginBlock`.
    """

    expansion = 4
    plugin_positions = ('after_conv1', 'after_conv2', 'after_conv3')

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 *,
                 stride: int = 1,
                 dilation: int = 1,
                 widen_factor: int = 1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        width = planes * widen_factor
        out_channels = planes * self.expansion
        self.conv1 = build_conv_layer(conv_cfg, inplanes, width, 1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, width)[1]
        self.conv2 = build_conv_layer(conv_cfg, width, width, 3, stride=stride,
                                      padding=dilation, dilation=dilation, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, width)[1]
        self.conv3 = build_conv_layer(conv_cfg, width, out_channels, 1, bias=False)
        self.bn3 = build_norm_layer(norm_cfg, out_channels)[1]
        self.build_plugins(dict(after_conv1=width, after_conv2=width, after_conv3=out_channels))

    def branch(self, x: Tensor, *plugin_inputs: Tensor) -> Tensor:
        """conv1-bn1-ReLU, plugins, conv2-bn2-ReLU, plugins, conv3-bn3, plugins.

        Args:
            x (Tensor): Shape (N, inplanes, H, W).
            *plugin_inputs (Tensor): Further inputs of every plugin.

        Returns:
            Tensor: Shape (N, planes * 4, H / stride, W / stride).
        """
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.forward_plugins(out, 'after_conv1', *plugin_inputs)
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.forward_plugins(out, 'after_conv2', *plugin_inputs)
        out = self.bn3(self.conv3(out))
        return self.forward_plugins(out, 'after_conv3', *plugin_inputs)
