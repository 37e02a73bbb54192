"""The norm and activation layers of the attention modules, built from mmcv configs.

SE, CBAM, HOGA and the convolutional gates name their knobs as mmcv and timm
do: ``norm_cfg`` for every BN inside them (``dict(type='SyncBN')`` reaches
them all) and ``act_cfg`` for every ReLU.
"""
from typing import Dict

from mmcv.cnn import build_norm_layer
from torch import nn

ConfigType = Dict

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
        nn.Module: The layer.
    """
    return build_norm_layer(norm_cfg, channels)[1]
