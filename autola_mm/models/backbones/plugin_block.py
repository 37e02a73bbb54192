"""Residual blocks that host mmcv plugins at named positions.

The plugin format is mmdet's ResNet format (``dict(cfg=..., position=...)``),
so attention modules from AutoLA (Ma et al., "Auto Learning Attention",
NeurIPS 2020), SE and CBAM drop into a block exactly as mmcv's own plugins do.
"""
from typing import Dict, Iterator, List, Optional, Sequence

import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_plugin_layer
from mmengine.model import BaseModule
from torch import Tensor


def check_plugin_cfgs(plugins: Optional[Sequence[dict]], positions: Sequence[str],
                      owner: str) -> List[dict]:
    """Check that every plugin names a cfg and a position the block has.

    Args:
        plugins (Sequence[dict] | None): Plugin dicts with keys ``cfg`` and
            ``position``.
        positions (Sequence[str]): Positions the block offers.
        owner (str): Name of the block, used in error messages.

    Returns:
        list[dict]: The plugins as a list (empty for ``None``).
    """
    plugins = list(plugins or [])
    for plugin in plugins:
        if not isinstance(plugin, dict):
            raise TypeError(f'plugin {plugin!r} is not a dict: a plugin is '
                            "dict(cfg=dict(type=...), position=...)")
        for key in ('cfg', 'position'):
            if key not in plugin:
                raise KeyError(f'plugin {plugin} has no {key!r}: a plugin is '
                               "dict(cfg=dict(type=...), position=...)")
        if plugin['position'] not in positions:
            raise ValueError(f'{owner} has no plugin position {plugin["position"]!r}; '
                             f'allowed positions: {", ".join(positions)}')
    return plugins


class PluginBlock(BaseModule):
    """Base of residual blocks with plugins after some of their convolutions.

    Subclasses name their positions in ``plugin_positions``, check the plugin
    cfgs with :meth:`check_plugins` before building their layers, build the
    plugins with :meth:`build_plugins` after them, and implement
    :meth:`residual` (the block before its last ReLU, identity added), calling
    :meth:`forward_plugins` at each position. Plugins at one position run in
    the order they are given, each on the output of the previous one. They
    set ``with_cp`` (gradient checkpointing of :meth:`residual`) and ``relu``.
    """

    plugin_positions: Sequence[str] = ()

    def check_plugins(self, plugins: Optional[Sequence[dict]]) -> List[dict]:
        """Validate ``plugins`` against this block's positions.

        Args:
            plugins (Sequence[dict] | None): Plugin dicts.

        Returns:
            list[dict]: The validated plugins.
        """
        return check_plugin_cfgs(plugins, self.plugin_positions, type(self).__name__)

    def build_plugins(self, plugins: List[dict], channels: Dict[str, int]) -> None:
        """Build every plugin with ``build_plugin_layer`` and register it.

        Args:
            plugins (list[dict]): Validated plugin dicts.
            channels (dict[str, int]): Channels of the feature map at each
                position, passed to the plugin as ``in_channels``.
        """
        self.plugin_names: Dict[str, List[str]] = {p: [] for p in self.plugin_positions}
        for plugin in plugins:
            cfg = dict(plugin['cfg'])
            postfix = cfg.pop('postfix', '')
            name, layer = build_plugin_layer(
                cfg, postfix=postfix, in_channels=channels[plugin['position']])
            if hasattr(self, name):
                raise ValueError(f'plugin name {name!r} is taken in {type(self).__name__}: '
                                 "give the plugin cfg a distinct 'postfix'")
            self.add_module(name, layer)
            self.plugin_names[plugin['position']].append(name)

    def forward_plugins(self, x: Tensor, position: str) -> Tensor:
        """Run the plugins at ``position`` in order.

        Args:
            x (Tensor): Feature map (N, C, H, W) at that position.

        Returns:
            Tensor: The plugins' output, same shape as ``x``.
        """
        for name in self.plugin_names[position]:
            x = getattr(self, name)(x)
        return x

    def plugin_layers(self) -> Iterator[nn.Module]:
        """Yield the block's plugin modules."""
        for names in self.plugin_names.values():
            for name in names:
                yield getattr(self, name)

    def residual(self, x: Tensor) -> Tensor:
        """The convolutions and plugins of the block plus its identity path."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block.

        Args:
            x (Tensor): Shape (N, inplanes, H, W).

        Returns:
            Tensor: Shape (N, out_channels, H / stride, W / stride).
        """
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(self.residual, x, use_reentrant=False)
        else:
            out = self.residual(x)
        return self.relu(out)
