"""The norm and activation layers of the attention modules, built from mmcv configs.

SE, CBAM, HOGA and the convolutional gates name their knobs as mmcv and timm
do: ``norm_cfg`` for every BN inside them (``dict(type='SyncBN')`` reaches
them all) and ``act_cfg`` for every ReLU. Their ``dict(type='BN')`` is an
:class:`AttentionBatchNorm2d`, the ``nn.BatchNorm2d`` that runs on the
attention core.
"""
from typing import Dict

from mmcv.cnn import build_norm_layer
from torch import nn

from .batch_norm import AttentionBatchNorm2d

ConfigType = Dict

#: The ``type`` of a norm config that builds an :class:`AttentionBatchNorm2d`.
BATCH_NORM_TYPES = ('BN', 'BN2d', nn.BatchNorm2d)

#: The norm layer of the attention modules unless a config names another.
DEFAULT_NORM_CFG = dict(type='BN')
#: Their activation.
DEFAULT_ACT_CFG = dict(type='ReLU')


def build_norm(norm_cfg: ConfigType, channels: int) -> nn.Module:
    """The norm layer ``norm_cfg`` over ``channels``.

    Args:
        norm_cfg (dict): An mmcv norm config, e.g. ``dict(type='BN')`` or
            ``dict(type='BN', affine=False)`` (the search's candidates).
        channels (int): Channels it normalises.

    Returns:
        nn.Module: The layer: an :class:`AttentionBatchNorm2d` for a BN, else
        what mmcv builds.
    """
    if norm_cfg.get('type') in BATCH_NORM_TYPES:
        norm_cfg = dict(norm_cfg, type=AttentionBatchNorm2d)
    return build_norm_layer(norm_cfg, channels)[1]
