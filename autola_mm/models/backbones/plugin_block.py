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

    A block computes ``relu(branch(x) + shortcut(x))``, the shortcut being
    ``x`` or ``downsample(x)``. This class owns the shortcut, the final ReLU
    (``relu``, which a subclass may reuse inside its branch), activation
    checkpointing (``with_cp``) and the plugins. A subclass:

    * names its plugin positions in ``plugin_positions`` and its output
      width factor in ``expansion``;
    * calls ``super().__init__(**kwargs)`` first, builds its layers, then
      calls :meth:`build_plugins` with the channels at every position;
    * implements :meth:`branch`, calling :meth:`forward_plugins` at each of
      its positions and handing on the extra ``plugin_inputs``.

    Plugins at one position run in the order they are given, each on the
    output of the previous one.

    Args:
        downsample (nn.Module, optional): Projection of the shortcut when the
            shape changes. Defaults to None (the identity).
        with_cp (bool): Recompute the block in the backward pass (activation
            checkpointing) to save memory. Defaults to False.
        plugins (Sequence[dict], optional): ``dict(cfg=..., position=...)``
            with a position of ``plugin_positions``.
        init_cfg (dict | list[dict], optional): Initialization config.
    """

    expansion: int = 1
    plugin_positions: Sequence[str] = ()

    def __init__(self,
                 *,
                 downsample: Optional[nn.Module] = None,
                 with_cp: bool = False,
                 plugins: Optional[Sequence[dict]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        self.plugin_cfgs = check_plugin_cfgs(plugins, self.plugin_positions, type(self).__name__)
        self.with_cp = with_cp
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True)

    def build_plugins(self, channels: Dict[str, int]) -> None:
        """Build every plugin with ``build_plugin_layer`` and register it.

        Args:
            channels (dict[str, int]): Channels of the feature map at each
                position, passed to the plugin as ``in_channels``.
        """
        self.plugin_names: Dict[str, List[str]] = {p: [] for p in self.plugin_positions}
        for plugin in self.plugin_cfgs:
            cfg = dict(plugin['cfg'])
            postfix = cfg.pop('postfix', '')
            name, layer = build_plugin_layer(
                cfg, postfix=postfix, in_channels=channels[plugin['position']])
            if hasattr(self, name):
                raise ValueError(f'plugin name {name!r} is taken in {type(self).__name__}: '
                                 "give the plugin cfg a distinct 'postfix'")
            self.add_module(name, layer)
            self.plugin_names[plugin['position']].append(name)

    def forward_plugins(self, x: Tensor, position: str, *plugin_inputs: Tensor) -> Tensor:
        """Run the plugins at ``position`` in order.

        Args:
            x (Tensor): Feature map (N, C, H, W) at that position.
            *plugin_inputs (Tensor): Further inputs of every plugin, e.g. the
                mixing weights of search cells.

        Returns:
            Tensor: The plugins' output, same shape as ``x``.
        """
        for name in self.plugin_names[position]:
            x = getattr(self, name)(x, *plugin_inputs)
        return x

    def plugin_layers(self) -> Iterator[nn.Module]:
        """Yield the block's plugin modules."""
        for names in self.plugin_names.values():
            for name in names:
                yield getattr(self, name)

    def branch(self, x: Tensor, *plugin_inputs: Tensor) -> Tensor:
        """The convolutions and plugins of the block, before the shortcut is added."""
        raise NotImplementedError

    def residual(self, x: Tensor, *plugin_inputs: Tensor) -> Tensor:
        """``branch(x) + shortcut(x)``: the block before its last ReLU."""
        identity = x if self.downsample is None else self.downsample(x)
        return self.branch(x, *plugin_inputs) + identity

    def forward(self, x: Tensor, *plugin_inputs: Tensor) -> Tensor:
        """Apply the block.

        Args:
            x (Tensor): Shape (N, inplanes, H, W).
            *plugin_inputs (Tensor): Further inputs of every plugin (the
                search backbone's mixing weights); none for ordinary plugins.

        Returns:
            Tensor: Shape (N, planes * expansion, H / stride, W / stride).
        """
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(self.residual, x, *plugin_inputs, use_reentrant=False)
        else:
            out = self.residual(x, *plugin_inputs)
        return self.relu(out)
