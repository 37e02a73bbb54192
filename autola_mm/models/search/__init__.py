"""The differentiable HOGA search of Auto Learning Attention (AutoLA, NeurIPS 2020)."""
from .derivation import dag_genotype, derive_genotype, nodes_of_alpha, num_dag_edges
from .mixed_edge import MixedEdge
from .search_classifier import HOGASearchClassifier
from .search_hoga import SearchHOGA, lend_mixing_weights
from .unrolled import VirtualStep, unrolled_architecture_grad

__all__ = [
    'MixedEdge', 'SearchHOGA', 'HOGASearchClassifier', 'lend_mixing_weights', 'derive_genotype',
    'dag_genotype', 'nodes_of_alpha', 'num_dag_edges', 'VirtualStep',
    'unrolled_architecture_grad'
]
