"""ImageNet ResNet (He et al., 2016) and Wide ResNet accepting attention plugins.

The backbone AutoLA (Ma et al., NeurIPS 2020) inserts HOGA into for ImageNet
classification, COCO detection and keypoints; its parameter names are
torchvision's, so torchvision checkpoints load into the plain part.
"""
from typing import Optional, Sequence

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.registry import MODELS
from torch import Tensor

from .basic_block import BasicBlock
from .bottleneck import Bottleneck
from .resnet_base import PluginResNetBase


@MODELS.register_module()
class PluginResNet(PluginResNetBase):
    """ResNet-18/34/50/101/152 and Wide ResNet-50-2/101-2 with plugins.

    The stem is a 7x7 stride-2 convolution, BN, ReLU and a 3x3 stride-2 max
    pooling; stage ``i`` has ``base_channels * 2**i * expansion`` output
    channels. State-dict names are torchvision's (``conv1``, ``bn1``,
    ``layer1.0.conv1``, ..., ``layer2.0.downsample.0``; no ``fc``), so
    ``torchvision.models.resnet50().state_dict()`` minus ``fc`` loads into
    the plain part, and plugin weights are reported as missing keys.
    Everything else (plugins, freezing, ``norm_eval``, outputs) is described
    in :class:`PluginResNetBase`.

    Example:
        >>> backbone = PluginResNet(depth=50, out_indices=(3, ), plugins=[
        ...     dict(cfg=dict(type='HOGA'), position='after_conv2',
        ...          stages=(False, True, True, True))])

    SSD300's ResNet-50 of AutoLA (conv5_x removed, conv4_x at stride 1) is
    ``PluginResNet(depth=50, num_stages=3, strides=(1, 2, 1))``.

    Args:
        depth (int): 18, 34 (basic blocks), 50, 101 or 152 (bottlenecks).
        stem_channels (int): Stem output channels. Defaults to 64.
        base_channels (int): Base width of stage 0. Defaults to 64.
        widen_factor (int): Inner width multiplier of bottlenecks; 2 with
            depth 50 is WRN-50-2 (torchvision's ``wide_resnet50_2``).
            Basic blocks accept only 1. Defaults to 1.
        num_stages (int): Number of stages, 1..4. Defaults to 4.
        strides (Sequence[int]): First-block stride per stage.
            Defaults to (1, 2, 2, 2).
        dilations (Sequence[int]): Dilation per stage. Defaults to
            (1, 1, 1, 1).
        **kwargs: Keyword arguments of :class:`PluginResNetBase`:
            ``out_indices`` (None, the default, outputs every stage),
            ``in_channels``, ``frozen_stages``, ``conv_cfg``, ``norm_cfg``,
            ``norm_eval``, ``plugins``, ``freeze_plugins``, ``with_cp`` and
            ``init_cfg``.
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self,
                 depth: int,
                 *,
                 stem_channels: int = 64,
                 base_channels: int = 64,
                 widen_factor: int = 1,
                 num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 **kwargs) -> None:
        if depth not in self.arch_settings:
            raise ValueError(f'depth={depth} is not an ImageNet ResNet depth; '
                             f'accepted: {", ".join(map(str, self.arch_settings))}')
        if not 1 <= num_stages <= 4:
            raise ValueError(f'num_stages={num_stages} is not in 1..4')
        block, stage_blocks = self.arch_settings[depth]
        block_options = {}
        if widen_factor != 1:
            if block is BasicBlock:
                raise ValueError(f'widen_factor={widen_factor} needs bottleneck blocks '
                                 f'(depth 50, 101 or 152), not depth={depth}')
            block_options['widen_factor'] = widen_factor
        self.depth = depth
        super().__init__(block=block, stage_blocks=stage_blocks[:num_stages],
                         stem_channels=stem_channels, base_channels=base_channels,
                         strides=strides, dilations=dilations, block_options=block_options,
                         **kwargs)

    def _make_stem(self, in_channels: int, stem_channels: int, conv_cfg: Optional[dict],
                   norm_cfg: dict) -> None:
        self.conv1 = build_conv_layer(conv_cfg, in_channels, stem_channels, 7, stride=2,
                                      padding=3, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, stem_channels)[1]
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward_stem(self, x: Tensor) -> Tensor:
        """Apply the stem.

        Args:
            x (Tensor): Images of shape (N, in_channels, H, W).

        Returns:
            Tensor: Shape (N, stem_channels, H / 4, W / 4).
        """
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))
