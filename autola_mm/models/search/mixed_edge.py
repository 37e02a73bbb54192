"""The mixed edge of the AutoLA search supernet (Ma et al., NeurIPS 2020).

During the search every HOGA edge computes ``sum_o w_o * o(x)`` over the
nine :data:`PRIMITIVES`, with ``w = softmax(alpha[edge])``. The candidates are
the very operation modules a derived HOGA holds, built with non-affine BN as
in DARTS. ``none`` contributes zero and is skipped: nothing is computed for it.
The sum is one autograd node (:class:`WeightedSum`): the forward accumulates
the terms in one buffer, and the backward gives each weight its gradient as a
dot product, with no product map in between.
"""
from typing import Iterable, Sequence

import torch
from torch import Tensor, nn

from ..attention import PRIMITIVES, build_operation
from ..attention.layer_configs import DEFAULT_ACT_CFG, DEFAULT_NORM_CFG, ConfigType
from ..attention.search_space import SEARCHED_COLUMNS


def accumulate(weights: Tensor, columns: Sequence[int], maps: Iterable[Tensor]) -> Tensor:
    """``sum_j weights[columns[j]] * maps[j]`` in one buffer, each term added by ``addcmul_``.

    Each weight is cast to the maps' dtype (under autocast the maps can be
    float16, the weights float32). ``maps`` may be a generator: a map is
    freed once it is added.
    """
    out = None
    for column, term in zip(columns, maps):
        if out is None:
            out = term * weights[column].to(term.dtype)
        else:
            out.addcmul_(term, weights[column].to(out.dtype))
    return out


class WeightedSum(torch.autograd.Function):
    """``sum_j weights[columns[j]] * maps[j]``, with its gradients.

    Forward: :func:`accumulate`. Backward:
    ``grad * weights[columns[j]]`` for each map, and for each weight
    ``<grad, maps[j]>`` (``torch.dot`` in float32 and float64; lower
    precisions sum their products in float32); the columns not in
    ``columns`` get 0.

    Args:
        weights (Tensor): Mixing weights, shape (len(PRIMITIVES), ).
        columns (Sequence[int]): The column of ``weights`` of every map.
        *maps (Tensor): The candidates' outputs, all of one shape (N, C, H, W).

    Returns:
        Tensor: Shape (N, C, H, W), the maps' dtype.
    """

    @staticmethod
    def forward(ctx, weights: Tensor, columns: Sequence[int], *maps: Tensor) -> Tensor:
        ctx.columns = columns
        ctx.save_for_backward(weights, *maps)
        return accumulate(weights, columns, maps)

    @staticmethod
    def backward(ctx, grad: Tensor):
        weights, *maps = ctx.saved_tensors
        grad = grad.contiguous()
        grad_maps = [
            grad * weights[column].to(grad.dtype) if needed else None
            for column, needed in zip(ctx.columns, ctx.needs_input_grad[2:])
        ]
        grad_weights = None
        if ctx.needs_input_grad[0]:
            flat = grad.reshape(-1)
            exact = flat.dtype in (torch.float32, torch.float64)
            products = [
                torch.dot(flat, term.reshape(-1)) if exact else
                (flat * term.reshape(-1)).sum(dtype=torch.float32) for term in maps
            ]
            grad_weights = torch.zeros_like(weights)
            grad_weights[list(ctx.columns)] = torch.stack(products).to(weights.dtype)
        return (grad_weights, None, *grad_maps)


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
        maps = (op(x) for op in self.ops)
        if torch.is_grad_enabled():
            return WeightedSum.apply(weights, self.columns, *maps)
        return accumulate(weights, self.columns, maps)
