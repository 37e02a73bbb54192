"""The search space: the columns of alpha (primitives) and its rows (the DAG's edges)."""
import pytest

from autola_mm.models.attention import PRIMITIVES
from autola_mm.models.attention.search_space import (SEARCHED_COLUMNS, dag_slots, edge_names,
                                                     num_dag_edges, num_dag_nodes)


def test_every_primitive_but_none_is_searched():
    assert [PRIMITIVES[c] for c in SEARCHED_COLUMNS] == list(PRIMITIVES[1:])
    assert PRIMITIVES[0] == 'none' and len(SEARCHED_COLUMNS) == 8


def test_dag_slots_list_slots_in_alpha_row_order():
    assert [slot for node in dag_slots(4) for slot in node] == [0, 0, 1, 0, 1, 2, 0, 1, 2, 3]
    assert dag_slots(1) == ((0, ), )


def test_edge_counts_and_names():
    assert [num_dag_edges(k) for k in range(1, 6)] == [1, 3, 6, 10, 15]
    assert [num_dag_nodes(num_dag_edges(k)) for k in range(1, 6)] == [1, 2, 3, 4, 5]
    assert edge_names(3) == ['g0->n1', 'g1->n2', 'n1->n2', 'g2->n3', 'n1->n3', 'n2->n3']
    assert len(edge_names(4)) == 10


@pytest.mark.parametrize('num_edges', [0, 2, 9, -3])
def test_other_edge_counts_are_refused(num_edges):
    with pytest.raises(ValueError, match=f'^{num_edges} edges: expected k\\(k\\+1\\)/2'):
        num_dag_nodes(num_edges)
