"""From the architecture matrix ``alpha`` to a HOGA genotype (AutoLA, NeurIPS 2020).

The derived HOGA of Auto Learning Attention (Ma et al.) keeps every edge (no
top-2 pruning as in DARTS) and gives each the operation of largest weight
among the searched columns (every primitive but ``none``). Rows and columns
of ``alpha`` are those of the search space (``attention/search_space.py``).
"""
import torch
from torch import Tensor

from ..attention import PRIMITIVES, Genotype
from ..attention.search_space import SEARCHED_COLUMNS, dag_slots, num_dag_nodes


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
    try:
        return num_dag_nodes(alpha.shape[0])
    except ValueError as error:
        raise ValueError(f'alpha of shape {tuple(alpha.shape)}: {error}') from None


def derive_genotype(alpha: Tensor) -> Genotype:
    """Keep every edge with its strongest operation other than ``none``.

    Ties go to the operation listed first in :data:`PRIMITIVES`.

    Args:
        alpha (Tensor): Architecture matrix (k(k+1)/2, len(PRIMITIVES)), one
            row per edge of the search space's DAG.

    Returns:
        Genotype: ``k`` nodes; node ``i`` lists slots ``0..i-1`` in order.
    """
    num_nodes = nodes_of_alpha(alpha)
    best = torch.argmax(alpha.detach()[:, list(SEARCHED_COLUMNS)], dim=1).tolist()
    slots = [slot for node in dag_slots(num_nodes) for slot in node]
    return Genotype.from_edges([(PRIMITIVES[SEARCHED_COLUMNS[column]], slot)
                                for column, slot in zip(best, slots)], num_nodes)
