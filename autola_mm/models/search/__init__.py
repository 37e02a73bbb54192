"""The differentiable HOGA search of Auto Learning Attention (AutoLA, NeurIPS 2020)."""
from .derivation import derive_genotype, nodes_of_alpha
from .mixed_edge import MixedEdge
from .search_classifier import HOGASearchClassifier
from .search_hoga import SearchHOGA
from .unrolled import VirtualStep, unrolled_architecture_grad

__all__ = [
    'MixedEdge', 'SearchHOGA', 'HOGASearchClassifier', 'derive_genotype', 'nodes_of_alpha',
    'VirtualStep', 'unrolled_architecture_grad'
]
