"""The mixed edge of the AutoLA search supernet (Ma et al., NeurIPS 2020).

During the search every HOGA edge computes ``sum_o w_o * o(x)`` over the
nine :data:`PRIMITIVES`, with ``w = softmax(alpha[edge])``. The candidates are
the very operation modules a derived HOGA holds, built with non-affine BN as
in DARTS. ``none`` contributes zero and is skipped: nothing is computed for it.
Each further term is added by one ``addcmul`` (one pass over the map, where a
product and a sum are two), its weight in the dtype of the sum (under autocast
``addcmul`` would otherwise promote a float16 sum to the float32 weights').
"""
import torch
from torch import Tensor, nn

from ..attention import PRIMITIVES, build_operation
from ..attention.layer_configs import DEFAULT_ACT_CFG, DEFAULT_NORM_CFG, ConfigType
from ..attention.search_space import SEARCHED_COLUMNS


class MixedEdge(nn.Module):
    """Softmax-weighted sum of every candidate operation of one HOGA edge.

    ``ops[j]`` is the operation ``PRIMITIVES[columns[j]]``; ``none`` has no
    module.

    Args:
        channels (int): Channels of the group the edge gates.
        norm_cfg (dict): The candidates' norm layers (made non-affine).
            Default: ``dict(type='BN')``.
        act_cfg (dict): Their activations. Default: ``dict(type='ReLU')``.
    """

    def __init__(self,
                 channels: int,
                 norm_cfg: ConfigType = DEFAULT_NORM_CFG,
                 act_cfg: ConfigType = DEFAULT_ACT_CFG):
        super().__init__()
        self.columns = SEARCHED_COLUMNS
        self.ops = nn.ModuleList(
            build_operation(PRIMITIVES[i], channels, affine=False, norm_cfg=norm_cfg,
                            act_cfg=act_cfg) for i in self.columns)

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        """Mix the candidates.

        Args:
            x (Tensor): The slot the edge reads, (N, C, H, W).
            weights (Tensor): Mixing weights of this edge, shape
                (len(PRIMITIVES), ), columns in :data:`PRIMITIVES` order.

        Returns:
            Tensor: ``sum_o weights[o] * o(x)``, shape (N, C, H, W).
        """
        mixing = weights.unbind()
        out = None
        for column, op in zip(self.columns, self.ops):
            if out is None:
                out = op(x) * mixing[column]
            else:
                out = torch.addcmul(out, op(x), mixing[column].to(out.dtype))
        return out
