"""The HOGA cell of the AutoLA search supernet (Ma et al., NeurIPS 2020).

:class:`SearchHOGA` is :class:`HOGA` with a :class:`MixedEdge` on every edge
of the DAG; the walk over groups and nodes, the global branch and the
projection are HOGA's own. The mixing weights ``softmax(alpha)`` are not the
cell's: one ``alpha`` is shared by every cell of the network and owned by the
search model, which lends the weights to its cells for one forward pass with
:func:`lend_mixing_weights`.
"""
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence

from mmengine.registry import MODELS
from torch import Tensor, nn

from ..attention import HOGA, PRIMITIVES, FeatureStats
from .derivation import dag_genotype
from .mixed_edge import MixedEdge


@MODELS.register_module()
class SearchHOGA(HOGA):
    """HOGA whose every edge mixes all candidate operations, an mmcv plugin.

    ``genotype`` lists the DAG (node ``i`` reads slots ``0..i-1`` in order,
    the row order of ``alpha``); its operation names are placeholders.

    Args:
        in_channels (int): Channels ``C``; a multiple of ``groups``.
        groups (int): Number of channel groups and nodes ``k``. Default: 4.
        rd_ratio (float): Hidden width of the group SE and the output SE as a
            fraction of their channels. Default: 1 / 8.
        min_rd_channels (int): Lower bound of those hidden widths. Default: 0.
    """

    _abbr_ = 'search_hoga'

    def __init__(self,
                 in_channels: int,
                 groups: int = 4,
                 rd_ratio: float = 1 / 8,
                 min_rd_channels: int = 0):
        super().__init__(in_channels, dag_genotype(groups), groups, rd_ratio, min_rd_channels)
        self.mixing_weights: Optional[Tensor] = None

    @property
    def num_edges(self) -> int:
        """int: Edges of the DAG, the rows of ``alpha``."""
        return len(self.edges)

    def build_edge(self, edge_index: int, op: str, slot: int) -> nn.Module:
        """A :class:`MixedEdge` over every primitive (``op`` is a placeholder)."""
        return MixedEdge(self.group_channels)

    def forward_edge(self, edge_index: int, x: Tensor, stats: FeatureStats) -> Tensor:
        """Run the mixed edge ``edge_index`` with its row of the mixing weights."""
        return self.edges[edge_index](x, stats, self.mixing_weights[edge_index])

    def forward(self, x: Tensor) -> Tensor:
        """Attend over the channel groups of ``x`` with the lent mixing weights.

        Args:
            x (Tensor): Shape (N, C, H, W).

        Returns:
            Tensor: Shape (N, C, H, W).
        """
        weights = self.mixing_weights
        if weights is None:
            raise RuntimeError('SearchHOGA has no mixing weights: it runs inside a search '
                               'model (HOGASearchClassifier), which lends softmax(alpha) to '
                               'its cells for each forward pass')
        expected = (self.num_edges, len(PRIMITIVES))
        if tuple(weights.shape) != expected:
            raise ValueError(f'mixing weights of shape {tuple(weights.shape)}: this '
                             f'{self.groups}-group SearchHOGA expects {expected} '
                             '(edges, primitives)')
        return super().forward(x)


@contextmanager
def lend_mixing_weights(cells: Sequence[SearchHOGA], weights: Tensor) -> Iterator[None]:
    """Let every cell use ``weights`` inside the ``with`` block.

    Args:
        cells (Sequence[SearchHOGA]): The search cells of a network.
        weights (Tensor): Mixing weights (edges, len(PRIMITIVES)), e.g.
            ``softmax(alpha, dim=-1)``.
    """
    for cell in cells:
        cell.mixing_weights = weights
    try:
        yield
    finally:
        for cell in cells:
            cell.mixing_weights = None
