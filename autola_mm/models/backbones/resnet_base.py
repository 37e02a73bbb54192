"""What the ImageNet and CIFAR ResNets of AutoLA (NeurIPS 2020) share.

Stages with plugins in mmdet's format, selected outputs, ``frozen_stages``,
``norm_eval`` and the default initialisation; the subclasses add their stem.
"""
from typing import Iterator, List, Optional, Sequence, Set, Tuple, Type

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from .plugin_block import PluginBlock, check_plugin_cfgs
from .res_layer import make_res_layer

DEFAULT_INIT_CFG = [
    dict(type='Kaiming', layer=['Conv2d']),
    dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
]


def select_stage_plugins(plugins: Sequence[dict], stage: int) -> List[dict]:
    """The plugins whose ``stages`` flag includes ``stage`` (all if absent).

    Args:
        plugins (Sequence[dict]): Plugin dicts, each with an optional
            ``stages`` tuple of booleans, one per stage.
        stage (int): Index of the stage.

    Returns:
        list[dict]: ``dict(cfg=..., position=...)`` for the stage's blocks.
    """
    return [
        dict(cfg=p['cfg'], position=p['position']) for p in plugins
        if p.get('stages') is None or p['stages'][stage]
    ]


class PluginResNetBase(BaseModule):
    """ResNet stages ``layer1``..``layerN`` over a stem given by a subclass.

    Plugins and freezing: ``frozen_stages`` and ``norm_eval`` act on the plain
    ResNet (stem, convolutions, norms, shortcuts), the part a torchvision or
    mmpretrain checkpoint provides. Plugins inside frozen stages stay
    trainable and their norms follow the model's train/eval mode, because a
    plain checkpoint does not hold their weights and freezing them would keep
    them at their random initialisation. Set ``freeze_plugins=True`` when the
    checkpoint does hold them, to freeze plugins with their stages as well.

    Subclasses build ``conv1`` and ``bn1`` (the stem parts that
    ``frozen_stages=0`` freezes) in :meth:`_make_stem` and apply the stem in
    :meth:`forward_stem`. Every argument is keyword-only.

    Args:
        block (type): Block class of every stage.
        stage_blocks (Sequence[int]): Number of blocks per stage.
        stem_channels (int): Output channels of the stem.
        base_channels (int): Base width of stage 0; stage ``i`` has
            ``base_channels * 2**i``.
        strides (Sequence[int]): Stride of the first block of each stage.
        dilations (Sequence[int]): Dilation of each stage.
        out_indices (Sequence[int], optional): Stages whose outputs are
            returned; negative indices count from the end. None (the default)
            returns all.
        in_channels (int): Input image channels. Defaults to 3.
        frozen_stages (int): -1 (the default) freezes nothing, 0 the stem,
            ``k`` the stem and stages ``0..k-1`` (parameters stop training,
            norms stay in eval mode).
        conv_cfg (dict, optional): Convolution layer config.
        norm_cfg (dict): Normalization layer config. Defaults to BN.
        norm_eval (bool): Keep the norm layers in eval mode while training
            (frozen running statistics). Defaults to False.
        plugins (Sequence[dict], optional): mmdet-style plugins:
            ``dict(cfg=dict(type=...), position=..., stages=(bool, ...))``
            with one ``stages`` flag per stage (all stages if absent).
        freeze_plugins (bool): Let ``frozen_stages`` and ``norm_eval`` act
            on plugins too. Defaults to False.
        with_cp (bool): Activation checkpointing in every block. Defaults
            to False.
        init_cfg (dict | list[dict], optional): Initialization config; None
            gives Kaiming convolutions and unit norms, e.g.
            ``dict(type='Pretrained', checkpoint=...)`` loads a checkpoint
            (plugin weights it lacks are logged as missing keys).
        block_options (dict, optional): Further arguments of every block,
            e.g. ``dict(widen_factor=2)``.
    """

    def __init__(self,
                 *,
                 block: Type[PluginBlock],
                 stage_blocks: Sequence[int],
                 stem_channels: int,
                 base_channels: int,
                 strides: Sequence[int],
                 dilations: Sequence[int],
                 out_indices: Optional[Sequence[int]] = None,
                 in_channels: int = 3,
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 plugins: Optional[Sequence[dict]] = None,
                 freeze_plugins: bool = False,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None,
                 block_options: Optional[dict] = None) -> None:
        super().__init__(DEFAULT_INIT_CFG if init_cfg is None else init_cfg)
        num_stages = len(stage_blocks)
        for name, values in (('strides', strides), ('dilations', dilations)):
            if len(values) != num_stages:
                raise ValueError(f'{name}={tuple(values)} needs one value per stage '
                                 f'({num_stages} stages)')
        self.out_indices = self._check_out_indices(out_indices, num_stages)
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages={frozen_stages} is not in -1..{num_stages}')
        plugins = check_plugin_cfgs(plugins, block.plugin_positions, block.__name__)
        for plugin in plugins:
            if plugin.get('stages') is not None and len(plugin['stages']) != num_stages:
                raise ValueError(f'plugin stages={tuple(plugin["stages"])} needs one flag '
                                 f'per stage ({num_stages} stages)')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.freeze_plugins = freeze_plugins

        self._make_stem(in_channels, stem_channels, conv_cfg, norm_cfg)
        self.stage_names: List[str] = []
        stage_channels = []
        inplanes = stem_channels
        for i, num_blocks in enumerate(stage_blocks):
            planes = base_channels * 2**i
            stage = make_res_layer(
                block, inplanes, planes, num_blocks, stride=strides[i], dilation=dilations[i],
                conv_cfg=conv_cfg, norm_cfg=norm_cfg, plugins=select_stage_plugins(plugins, i),
                with_cp=with_cp, **(block_options or {}))
            inplanes = planes * block.expansion
            stage_channels.append(inplanes)
            self.add_module(f'layer{i + 1}', stage)
            self.stage_names.append(f'layer{i + 1}')
        self.out_channels = tuple(stage_channels[i] for i in self.out_indices)
        self._freeze_stages()

    @staticmethod
    def _check_out_indices(out_indices: Optional[Sequence[int]],
                           num_stages: int) -> Tuple[int, ...]:
        if out_indices is None:
            return tuple(range(num_stages))
        for index in out_indices:
            if not -num_stages <= index < num_stages:
                raise ValueError(f'out_indices={tuple(out_indices)} has {index}, not a stage '
                                 f'of {num_stages} (0..{num_stages - 1} or negative)')
        return tuple(sorted(index % num_stages for index in out_indices))

    def _make_stem(self, in_channels: int, stem_channels: int, conv_cfg: Optional[dict],
                   norm_cfg: dict) -> None:
        raise NotImplementedError

    def forward_stem(self, x: Tensor) -> Tensor:
        """Apply the stem to images of shape (N, in_channels, H, W)."""
        raise NotImplementedError

    def blocks(self) -> Iterator[PluginBlock]:
        """Yield every residual block, stage by stage."""
        for name in self.stage_names:
            yield from getattr(self, name)

    def plugin_layers(self) -> Iterator[nn.Module]:
        """Yield every plugin module of every block."""
        for block in self.blocks():
            yield from block.plugin_layers()

    def _modules_left_trainable(self) -> Set[int]:
        if self.freeze_plugins:
            return set()
        return {id(m) for plugin in self.plugin_layers() for m in plugin.modules()}

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        skip = self._modules_left_trainable()
        frozen = [self.conv1, self.bn1]
        frozen += [getattr(self, name) for name in self.stage_names[:self.frozen_stages]]
        for root in frozen:
            for module in root.modules():
                if id(module) in skip:
                    continue
                module.training = False
                for param in module.parameters(recurse=False):
                    param.requires_grad = False

    def train(self, mode: bool = True) -> 'PluginResNetBase':
        """Set the train mode, keeping frozen stages and (with ``norm_eval``)
        the norm layers in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            skip = self._modules_left_trainable()
            for module in self.modules():
                if isinstance(module, _BatchNorm) and id(module) not in skip:
                    module.eval()
        return self

    def forward(self, x: Tensor, *plugin_inputs: Tensor) -> Tuple[Tensor, ...]:
        """Extract features.

        Args:
            x (Tensor): Images of shape (N, in_channels, H, W).
            *plugin_inputs (Tensor): Further inputs of every plugin, e.g. the
                mixing weights a search model hands to its ``SearchHOGA``
                cells; none for ordinary plugins.

        Returns:
            tuple[Tensor]: The outputs of the stages in ``out_indices``; stage
            ``i`` has ``out_channels`` channels and its stride is the product
            of the stem's and of ``strides[:i + 1]``.
        """
        x = self.forward_stem(x)
        outs = []
        for i, name in enumerate(self.stage_names):
            x = getattr(self, name)(x, *plugin_inputs)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
