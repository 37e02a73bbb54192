"""ResNet backbones whose basic and bottleneck blocks accept mmcv plugins."""
from .basic_block import BasicBlock
from .bottleneck import Bottleneck
from .plugin_cifar_resnet import PluginCifarResNet
from .plugin_resnet import PluginResNet
from .resnet_base import PluginResNetBase

__all__ = ['BasicBlock', 'Bottleneck', 'PluginResNetBase', 'PluginResNet', 'PluginCifarResNet']
