"""The HOGA cell of the AutoLA search supernet (Ma et al., NeurIPS 2020).

:class:`SearchHOGA` is HOGA (the groups, DAG walk and projection of
:class:`HOGABase`) with a :class:`MixedEdge` on every edge of the search
space's DAG. It has no genotype: the search model derives one from ``alpha``.
As the cells of DARTS, it takes the mixing weights ``softmax(alpha)`` as an
argument of its forward; one ``alpha`` is shared by all cells and owned by
the search model, whose backbone hands the weights to its plugins.
"""
from functools import partial

from mmengine.registry import MODELS
from torch import Tensor

from ..attention import PRIMITIVES
from ..attention.hoga import HOGABase, group_width
from ..attention.layer_configs import DEFAULT_ACT_CFG, DEFAULT_NORM_CFG, ConfigType
from ..attention.search_space import dag_slots, num_dag_edges
from .mixed_edge import MixedEdge


@MODELS.register_module()
class SearchHOGA(HOGABase):
    """HOGA whose every edge mixes all candidate operations, an mmcv plugin.

    Edge ``e`` is row ``e`` of ``alpha``: node ``i`` reads slots ``0..i-1``
    in order.

    Args:
        in_channels (int): Channels ``C``; a multiple of ``groups``.
        groups (int): Number of channel groups and nodes ``k``. Default: 4.
        norm_cfg (dict): Every norm layer inside (the candidates' made
            non-affine). Default: ``dict(type='BN')``.
        act_cfg (dict): Every activation inside. Default: ``dict(type='ReLU')``.
        **kwargs: ``rd_ratio`` and ``min_rd_channels``, the hidden widths of
            the SEs, as in :class:`HOGA`.
    """

    _abbr_ = 'search_hoga'

    def __init__(self,
                 in_channels: int,
                 groups: int = 4,
                 norm_cfg: ConfigType = DEFAULT_NORM_CFG,
                 act_cfg: ConfigType = DEFAULT_ACT_CFG,
                 **kwargs):
        width = group_width(in_channels, groups)
        edges = [MixedEdge(width, norm_cfg, act_cfg) for _ in range(num_dag_edges(groups))]
        super().__init__(in_channels, groups, dag_slots(groups), edges, norm_cfg=norm_cfg,
                         act_cfg=act_cfg, **kwargs)

    def forward(self, x: Tensor, mixing_weights: Tensor) -> Tensor:
        """Attend over the channel groups of ``x``, every edge mixed by its row of weights.

        Args:
            x (Tensor): Shape (N, C, H, W).
            mixing_weights (Tensor): ``softmax(alpha)``, shape (edges,
                len(PRIMITIVES)); row ``e`` mixes edge ``e``.

        Returns:
            Tensor: Shape (N, C, H, W).
        """
        expected = (len(self.edges), len(PRIMITIVES))
        if tuple(mixing_weights.shape) != expected:
            raise ValueError(f'mixing weights of shape {tuple(mixing_weights.shape)}: this '
                             f'{self.groups}-group SearchHOGA expects {expected} '
                             '(edges, primitives)')
        return self.attend(x, [partial(edge, weights=row)
                               for edge, row in zip(self.edges, mixing_weights)])
