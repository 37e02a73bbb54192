"""Loop, hooks and optimizers of the AutoLA search (NeurIPS 2020), in mmengine's registries."""
from .alpha_history_hook import AlphaHistoryHook
from .genotype_hook import GenotypeHook
from .search_ddp import SearchDistributedDataParallel
from .search_loop import AutoLASearchLoop, split_indices
from .search_optim_constructor import SearchOptimWrapperConstructor
from .search_plots import plot_alpha_history, plot_genotype

__all__ = [
    'AutoLASearchLoop', 'split_indices', 'SearchOptimWrapperConstructor',
    'SearchDistributedDataParallel', 'GenotypeHook', 'AlphaHistoryHook', 'plot_alpha_history',
    'plot_genotype'
]
