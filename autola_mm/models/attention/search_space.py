"""The HOGA search space of Auto Learning Attention (Ma et al., NeurIPS 2020).

A search weighs the operations of every HOGA edge with one architecture
matrix ``alpha`` of shape (edges, primitives):

* columns: :data:`PRIMITIVES`, the operations an edge may carry, in the order
  of the factory ``OPERATIONS``; a search mixes, and a derivation chooses
  from, :data:`SEARCHED_COLUMNS`: every primitive but ``none``, which
  contributes nothing;
* rows: the edges of a ``k``-node DAG (``k`` channel groups), node by node;
  node ``i`` (1-based) reads slots ``0..i-1`` in order, slot 0 holding group
  ``g_{i-1}`` and slot ``j >= 1`` node ``n_j``: ``k(k+1)/2`` edges.
"""
import math
from typing import List, Tuple

from .operations import PRIMITIVES

NONE_OP = 'none'
#: Columns of ``alpha`` that a search mixes and a derivation chooses from.
SEARCHED_COLUMNS = tuple(i for i, name in enumerate(PRIMITIVES) if name != NONE_OP)


def num_dag_edges(num_nodes: int) -> int:
    """Edges of a ``num_nodes``-node HOGA DAG: node ``i`` has ``i``."""
    return num_nodes * (num_nodes + 1) // 2


def num_dag_nodes(num_edges: int) -> int:
    """The ``k`` of a DAG with ``num_edges = k(k+1)/2`` edges.

    Raises:
        ValueError: When ``num_edges`` is not such a count.
    """
    num_nodes = (math.isqrt(8 * max(num_edges, 0) + 1) - 1) // 2
    if num_nodes < 1 or num_dag_edges(num_nodes) != num_edges:
        raise ValueError(f'{num_edges} edges: expected k(k+1)/2 for a k-node HOGA (1, 3, 6, '
                         '..., 10 for the default 4 groups)')
    return num_nodes


def dag_slots(num_nodes: int) -> Tuple[Tuple[int, ...], ...]:
    """For every node, the slots its edges read in the row order of ``alpha``.

    Returns:
        tuple[tuple[int, ...], ...]: Node ``i`` reads ``(0, ..., i - 1)``.
    """
    return tuple(tuple(range(node)) for node in range(1, num_nodes + 1))


def edge_names(num_nodes: int) -> List[str]:
    """The rows of ``alpha`` as ``'g0->n1', 'g1->n2', 'n1->n2', ...``."""
    return [f'{f"n{slot}" if slot else f"g{node - 1}"}->n{node}'
            for node, slots in enumerate(dag_slots(num_nodes), start=1) for slot in slots]
