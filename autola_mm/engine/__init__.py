"""Loop, hooks and optimizers of the AutoLA search (NeurIPS 2020), in mmengine's registries.

The figures (``search_plots``, matplotlib) are imported only when a hook draws one.
"""
from .alpha_history_hook import AlphaHistoryHook
from .genotype_hook import GenotypeHook
from .search_ddp import SearchDistributedDataParallel
from .search_loop import AutoLASearchLoop, split_indices
from .search_optim_constructor import SearchOptimWrapperConstructor

__all__ = [
    'AutoLASearchLoop', 'split_indices', 'SearchOptimWrapperConstructor',
    'SearchDistributedDataParallel', 'GenotypeHook', 'AlphaHistoryHook'
]
