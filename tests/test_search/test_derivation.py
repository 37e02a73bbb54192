"""Deriving the genotype: the strongest non-``none`` operation of every edge, all edges kept."""
import pytest
import torch

from autola_mm.models.attention import PRIMITIVES, Genotype
from autola_mm.models.search import derive_genotype, nodes_of_alpha

COLUMN = {name: i for i, name in enumerate(PRIMITIVES)}


def test_primitive_columns_are_the_published_order():
    assert PRIMITIVES == ('none', 'skip_connect', 'sep_conv_3x3', 'dil_conv_3x3',
                          'sep_conv_3x3_spatial', 'dil_conv_3x3_spatial', 'SE', 'SE_A_M',
                          'CBAM')


def hand_made_alpha() -> torch.Tensor:
    """Ten edges; the winner of each row is set by hand, ``none`` often largest."""
    alpha = torch.full((10, 9), -1.0)
    rows = [
        {'none': 5.0, 'skip_connect': 0.3},                      # none ignored -> skip
        {'sep_conv_3x3_spatial': 0.2},                           # plain winner
        {'none': 9.0, 'sep_conv_3x3': 0.1, 'CBAM': 0.05},        # none ignored
        {'CBAM': 2.0, 'SE': 1.9},
        {'skip_connect': 0.5, 'dil_conv_3x3': 0.5},              # tie: first in PRIMITIVES
        {'SE_A_M': -0.5},                                        # all negative rows too
        {'sep_conv_3x3': 3.0},
        {'dil_conv_3x3_spatial': 0.0, 'none': 0.5},
        {'SE': 1.0},
        {'dil_conv_3x3': 1.5, 'sep_conv_3x3': 1.4999},
    ]
    for row, values in zip(alpha, rows):
        for name, value in values.items():
            row[COLUMN[name]] = value
    return alpha


def test_derivation_keeps_every_edge_with_its_best_non_none_operation():
    genotype = derive_genotype(hand_made_alpha())
    assert genotype == Genotype([
        [('skip_connect', 0)],
        [('sep_conv_3x3_spatial', 0), ('sep_conv_3x3', 1)],
        [('CBAM', 0), ('skip_connect', 1), ('SE_A_M', 2)],
        [('sep_conv_3x3', 0), ('dil_conv_3x3_spatial', 1), ('SE', 2), ('dil_conv_3x3', 3)],
    ])
    assert genotype.num_edges == 10
    assert all(op != 'none' for op, _ in genotype.edges)


def test_derivation_is_invariant_to_softmax_and_row_shifts():
    alpha = hand_made_alpha()
    shifted = alpha.softmax(dim=-1) + torch.arange(10.0)[:, None]
    assert derive_genotype(shifted) == derive_genotype(alpha)


def test_derivation_follows_the_alpha_rows_of_smaller_cells():
    alpha = torch.zeros(3, 9)
    alpha[0, COLUMN['SE']] = 1
    alpha[1, COLUMN['CBAM']] = 1
    alpha[2, COLUMN['none']] = 1
    alpha[2, COLUMN['dil_conv_3x3']] = 0.5
    assert str(derive_genotype(alpha)) == 'SE:0 | CBAM:0 dil_conv_3x3:1'


def test_the_rows_of_alpha_give_the_number_of_nodes():
    assert nodes_of_alpha(torch.zeros(10, 9)) == 4
    assert nodes_of_alpha(torch.zeros(1, 9)) == 1


@pytest.mark.parametrize('shape', [(9, 9), (10, 8), (10, ), (0, 9), (2, 10, 9)])
def test_alphas_of_the_wrong_shape_are_refused(shape):
    with pytest.raises(ValueError, match=r'alpha of shape .*expected'):
        derive_genotype(torch.zeros(shape))


def test_a_non_tensor_alpha_is_refused():
    with pytest.raises(ValueError, match='alpha of shape list'):
        derive_genotype([[0.0] * 9] * 10)
