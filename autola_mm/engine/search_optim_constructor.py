"""The two optimizers of the AutoLA search (Ma et al., NeurIPS 2020).

The bi-level search of DARTS trains the architecture matrix ``alpha`` and
the network weights with separate optimizers. The search model names its
parameter groups (``parameter_groups()``: ``'architecture'`` and
``'weights'``); this constructor builds one ``OptimWrapper`` per group from
the config entry of the same name and returns them as an ``OptimWrapperDict``::

    optim_wrapper = dict(
        constructor='SearchOptimWrapperConstructor',
        architecture=dict(optimizer=dict(type='Adam', lr=3e-3)),
        weights=dict(optimizer=dict(type='SGD', lr=0.025), clip_grad=dict(max_norm=5)))
"""
import copy
from typing import Optional

from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS
from torch import nn


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SearchOptimWrapperConstructor:
    """Build one optimizer wrapper per parameter group of a search model.

    Args:
        optim_wrapper_cfg (dict): One entry per group, each an optimizer
            wrapper config (``type`` defaults to ``'OptimWrapper'``) with an
            ``optimizer`` config.
        paramwise_cfg (dict, optional): Not supported; must be None.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        if paramwise_cfg:
            raise ValueError(f'paramwise_cfg={paramwise_cfg!r}: SearchOptimWrapperConstructor '
                             'gives every parameter of a group the same settings')
        self.optim_wrapper_cfg = copy.deepcopy(dict(optim_wrapper_cfg))

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        """Build the wrappers.

        Args:
            model (nn.Module): A search model (or its DDP wrapper) with a
                ``parameter_groups()`` method.

        Returns:
            OptimWrapperDict: One wrapper per group, keyed by its name.
        """
        if is_model_wrapper(model):
            model = model.module
        if not hasattr(model, 'parameter_groups'):
            raise TypeError(f'{type(model).__name__} has no parameter_groups(): '
                            'SearchOptimWrapperConstructor builds the optimizers of a search '
                            'model such as HOGASearchClassifier')
        groups = model.parameter_groups()
        if set(groups) != set(self.optim_wrapper_cfg):
            raise KeyError(f'optim_wrapper has entries {sorted(self.optim_wrapper_cfg)}; '
                           f'{type(model).__name__} needs exactly {sorted(groups)}')
        wrappers = {}
        for name, params in groups.items():
            cfg = copy.deepcopy(self.optim_wrapper_cfg[name])
            if 'optimizer' not in cfg:
                raise KeyError(f'optim_wrapper.{name} has no optimizer config, e.g. '
                               "optimizer=dict(type='SGD', lr=0.025)")
            optimizer = OPTIMIZERS.build(dict(cfg.pop('optimizer'), params=params))
            cfg.setdefault('type', 'OptimWrapper')
            wrappers[name] = OPTIM_WRAPPERS.build(cfg, default_args=dict(optimizer=optimizer))
        return OptimWrapperDict(**wrappers)
