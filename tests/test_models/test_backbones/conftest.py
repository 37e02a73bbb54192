"""Toy plugins whose effect on a block can be computed by hand.

They register in mmengine's root registry, as a user's plugin would, so the
backbones build them through ``mmcv.cnn.build_plugin_layer``.
"""
import torch.nn as nn
from mmengine.registry import MODELS


@MODELS.register_module(force=True)
class ToyAffinePlugin(nn.Module):
    """``x * scale + shift``, remembering the channels it was built for."""

    _abbr_ = 'toy_affine'

    def __init__(self, in_channels, scale=1.0, shift=0.0):
        super().__init__()
        self.in_channels = in_channels
        self.scale = scale
        self.shift = shift

    def forward(self, x):
        return x * self.scale + self.shift


@MODELS.register_module(force=True)
class ToyNormPlugin(nn.Module):
    """A trainable 1x1 conv and BN; ``init_weights`` zeroes the conv."""

    _abbr_ = 'toy_norm'

    def __init__(self, in_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 1)
        self.bn = nn.BatchNorm2d(in_channels)

    def init_weights(self):
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x):
        return x + self.bn(self.conv(x))



@MODELS.register_module(force=True)
class ToyShiftPlugin(nn.Module):
    """``x + shift``, the shift being an extra input of the forward."""

    _abbr_ = 'toy_shift'

    def __init__(self, in_channels):
        super().__init__()
        self.in_channels = in_channels

    def forward(self, x, shift):
        return x + shift
