"""CIFAR ResNet (He et al., 2016, section 4.2) accepting attention plugins.

ResNet-20/32/44/56/110 on 32x32 images: the backbone of AutoLA's (Ma et al.,
NeurIPS 2020) search supernet and of its CIFAR-10/100 experiments.
"""
from typing import Optional, Sequence

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.registry import MODELS
from torch import Tensor

from .basic_block import BasicBlock
from .resnet_base import PluginResNetBase


@MODELS.register_module()
class PluginCifarResNet(PluginResNetBase):
    """CIFAR ResNet of depth 6n+2: a 3x3 stem and three stages of n basic blocks.

    Stage widths are ``b, 2b, 4b`` for ``base_channels=b`` (16 for CIFAR-10,
    64 for AutoLA's CIFAR-100 models), strides 1, 2, 2, no max pooling. Shape
    changes go through a 1x1 convolution + BN shortcut. AutoLA's supernet
    puts HOGA at ``position='after_conv2'`` of every block (after the second
    BN, before the residual add). Plugins, freezing and outputs are described
    in :class:`PluginResNetBase`.

    Example:
        >>> backbone = PluginCifarResNet(depth=20, plugins=[
        ...     dict(cfg=dict(type='HOGA'), position='after_conv2')])
        >>> [o.shape for o in backbone(torch.rand(2, 3, 32, 32))]
        [torch.Size([2, 64, 8, 8])]

    Args:
        depth (int): 6n+2 (20, 32, 44, 56, 110, ...). Defaults to 20.
        base_channels (int): Width of the stem and the first stage.
            Defaults to 16.
        stage_blocks (Sequence[int], optional): Blocks per stage, replacing
            the ``(n, n, n)`` that ``depth`` gives; its length sets the number
            of stages (e.g. ``(3, 4, 6, 3)``, the 4-stage supernet of the
            authors' search code, widths b, 2b, 4b, 8b). Defaults to None.
        strides (Sequence[int], optional): First-block stride per stage;
            None (the default) is 1 for the first stage and 2 for the others.
        dilations (Sequence[int], optional): Dilation per stage; None (the
            default) is 1 everywhere.
        out_indices (Sequence[int]): Stages to output. Defaults to the last.
        **kwargs: Keyword arguments of :class:`PluginResNetBase`:
            ``in_channels``, ``frozen_stages``, ``conv_cfg``, ``norm_cfg``,
            ``norm_eval``, ``plugins`` (positions ``after_conv1`` and
            ``after_conv2``), ``freeze_plugins``, ``with_cp`` and ``init_cfg``.
    """

    def __init__(self,
                 depth: int = 20,
                 *,
                 base_channels: int = 16,
                 stage_blocks: Optional[Sequence[int]] = None,
                 strides: Optional[Sequence[int]] = None,
                 dilations: Optional[Sequence[int]] = None,
                 out_indices: Sequence[int] = (-1, ),
                 **kwargs) -> None:
        if stage_blocks is None:
            if depth < 8 or (depth - 2) % 6 != 0:
                raise ValueError(f'depth={depth} is not a CIFAR ResNet depth; accepted: '
                                 '6n+2 with n >= 1 (20, 32, 44, 56, 110, ...)')
            stage_blocks = ((depth - 2) // 6, ) * 3
        elif not stage_blocks or min(stage_blocks) < 1:
            raise ValueError(f'stage_blocks={tuple(stage_blocks)} needs at least one '
                             'block in every stage')
        num_stages = len(stage_blocks)
        self.depth = 2 + 2 * sum(stage_blocks)
        super().__init__(block=BasicBlock, stage_blocks=tuple(stage_blocks),
                         stem_channels=base_channels, base_channels=base_channels,
                         strides=strides or (1, ) + (2, ) * (num_stages - 1),
                         dilations=dilations or (1, ) * num_stages, out_indices=out_indices,
                         **kwargs)

    def _make_stem(self, in_channels: int, stem_channels: int, conv_cfg: Optional[dict],
                   norm_cfg: dict) -> None:
        self.conv1 = build_conv_layer(conv_cfg, in_channels, stem_channels, 3, padding=1,
                                      bias=False)
        self.bn1 = build_norm_layer(norm_cfg, stem_channels)[1]
        self.relu = nn.ReLU(inplace=True)

    def forward_stem(self, x: Tensor) -> Tensor:
        """Apply the stem.

        Args:
            x (Tensor): Images of shape (N, in_channels, H, W).

        Returns:
            Tensor: Shape (N, base_channels, H, W).
        """
        return self.relu(self.bn1(self.conv1(x)))
