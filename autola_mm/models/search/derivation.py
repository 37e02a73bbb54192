"""From the architecture matrix ``alpha`` to a HOGA genotype (AutoLA, NeurIPS 2020).

The search of Auto Learning Attention (Ma et al.) weights the nine
:data:`PRIMITIVES` of every HOGA edge with ``softmax(alpha[edge])``. The
derived HOGA keeps every edge (no top-2 pruning as in DARTS) and gives each
the operation of largest weight other than ``none``. Rows of ``alpha`` follow
the edges node by node and, within node ``i``, the slots ``0..i-1`` in order.
"""
import math

import torch
from torch import Tensor

from ..attention import PRIMITIVES, Genotype
from ..attention.genotype import num_dag_edges

NONE_OP = 'none'
# Columns of alpha that a search weighs and derivation chooses from: every
# primitive but ``none``, which contributes nothing and is never kept.
SEARCHED_COLUMNS = tuple(i for i, name in enumerate(PRIMITIVES) if name != NONE_OP)


def dag_genotype(num_nodes: int, op: str = NONE_OP) -> Genotype:
    """The DAG of a HOGA with every edge carrying ``op``, slots in order.

    The search cell uses it for the slots each edge reads; the operation names
    are placeholders there.

    Args:
        num_nodes (int): Number of nodes (= channel groups).
        op (str): Operation written on every edge. Default: ``'none'``.

    Returns:
        Genotype: Node ``i`` reads slots ``0..i-1`` in this order.
    """
    return Genotype([[(op, slot) for slot in range(node)] for node in range(1, num_nodes + 1)])


def nodes_of_alpha(alpha: Tensor) -> int:
    """Check the shape of ``alpha`` and return the number of HOGA nodes it describes.

    Args:
        alpha (Tensor): Architecture matrix of shape (k(k+1)/2, len(PRIMITIVES)).

    Returns:
        int: ``k``.
    """
    if not isinstance(alpha, Tensor) or alpha.dim() != 2 or alpha.shape[1] != len(PRIMITIVES):
        shape = tuple(alpha.shape) if isinstance(alpha, Tensor) else type(alpha).__name__
        raise ValueError(f'alpha of shape {shape}: expected (edges, {len(PRIMITIVES)}), one '
                         f'column per primitive ({", ".join(PRIMITIVES)})')
    num_edges = alpha.shape[0]
    num_nodes = (math.isqrt(8 * num_edges + 1) - 1) // 2
    if num_edges == 0 or num_dag_edges(num_nodes) != num_edges:
        raise ValueError(f'alpha of shape {tuple(alpha.shape)} has {num_edges} rows: expected '
                         'k(k+1)/2 rows for a k-node HOGA (10 for the default 4 groups)')
    return num_nodes


def derive_genotype(alpha: Tensor) -> Genotype:
    """Keep every edge with its strongest operation other than ``none``.

    Ties go to the operation listed first in :data:`PRIMITIVES`.

    Args:
        alpha (Tensor): Architecture matrix (k(k+1)/2, len(PRIMITIVES)), rows
            in the edge order of :func:`dag_genotype`.

    Returns:
        Genotype: ``k`` nodes; node ``i`` lists slots ``0..i-1`` in order.
    """
    num_nodes = nodes_of_alpha(alpha)
    scores = alpha.detach()[:, list(SEARCHED_COLUMNS)]
    best = iter([PRIMITIVES[SEARCHED_COLUMNS[i]] for i in torch.argmax(scores, dim=1).tolist()])
    return Genotype([[(next(best), slot) for _, slot in node]
                     for node in dag_genotype(num_nodes).nodes])
