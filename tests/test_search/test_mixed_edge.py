"""The mixed edge and the search cell compute exactly the derived operations.

Two ways to make an edge one-hot: mixing weights set directly to a one-hot
row (exact: the other candidates are multiplied by 0.0, so the outputs must
be bitwise equal), and a large alpha through the softmax (its other weights
are about e^-40, so outputs agree to a tolerance).
"""
import pytest
import torch

from autola_mm.models.attention import HOGA, PRIMITIVES, Genotype, build_operation
from autola_mm.models.search import MixedEdge, SearchHOGA
from autola_mm.models.search.mixed_edge import WeightedSum

# Slot-ordered (the order the search cell sums edges in) and using every primitive.
GENOTYPE = Genotype([
    [('sep_conv_3x3', 0)],
    [('dil_conv_3x3', 0), ('CBAM', 1)],
    [('SE', 0), ('SE_A_M', 1), ('sep_conv_3x3_spatial', 2)],
    [('dil_conv_3x3_spatial', 0), ('skip_connect', 1), ('none', 2), ('sep_conv_3x3', 3)],
])


def randomise_(module: torch.nn.Module, seed: int) -> None:
    """Give every parameter random values, so copying weights matters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(0.5 * torch.randn(param.shape, generator=generator))


def one_hot(columns) -> torch.Tensor:
    weights = torch.zeros(len(columns), len(PRIMITIVES))
    weights[torch.arange(len(columns)), torch.tensor(columns)] = 1.0
    return weights


def test_the_mixed_edge_builds_no_module_for_none_and_non_affine_candidates():
    edge = MixedEdge(8)
    assert len(edge.ops) == len(PRIMITIVES) - 1
    assert [PRIMITIVES[c] for c in edge.columns] == [p for p in PRIMITIVES if p != 'none']
    norms = [m for m in edge.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and not any(m.affine for m in norms)
    for column, op in zip(edge.columns, edge.ops):
        assert type(op) is type(build_operation(PRIMITIVES[column], 8))


@pytest.mark.parametrize('name', PRIMITIVES)
def test_a_one_hot_mixed_edge_is_its_operation(name):
    edge = MixedEdge(8).train()
    randomise_(edge, seed=1)
    x = torch.randn(4, 8, 6, 6)
    column = PRIMITIVES.index(name)
    out = edge(x, one_hot([column])[0])
    if name == 'none':
        assert torch.equal(out, torch.zeros_like(x))
        return
    op = build_operation(name, 8, affine=False).train()
    op.load_state_dict(edge.ops[edge.columns.index(column)].state_dict())
    expected = op(x)
    assert torch.equal(out, expected)
    assert not torch.equal(expected, x) or name == 'skip_connect'


def test_the_mixed_edge_is_the_weighted_sum_of_its_candidates():
    edge = MixedEdge(8).train()
    randomise_(edge, seed=2)
    x = torch.randn(4, 8, 6, 6)
    weights = torch.rand(len(PRIMITIVES))
    expected = sum(weights[c] * op(x) for c, op in zip(edge.columns, edge.ops))
    torch.testing.assert_close(edge(x, weights), expected)


def test_the_weighted_sum_passes_gradcheck_and_gives_a_skipped_column_no_gradient():
    generator = torch.Generator().manual_seed(3)
    weights = torch.rand(4, dtype=torch.float64, generator=generator).requires_grad_()
    maps = [torch.randn(2, 3, 4, 5, dtype=torch.float64, generator=generator).requires_grad_()
            for _ in range(3)]
    columns = (0, 2, 3)
    assert torch.autograd.gradcheck(lambda w, *m: WeightedSum.apply(w, columns, *m),
                                    (weights, *maps))
    out = WeightedSum.apply(weights, columns, *maps)
    grad = torch.randn(out.shape, dtype=torch.float64, generator=generator)
    grad_weights, = torch.autograd.grad(out, weights, grad)
    expected = [0.0 if c == 1 else (grad * maps[columns.index(c)]).sum().item() for c in range(4)]
    torch.testing.assert_close(grad_weights, torch.tensor(expected, dtype=torch.float64))


def test_the_mixed_edge_gradients_are_those_of_the_explicit_sum():
    edge = MixedEdge(8).train()
    randomise_(edge, seed=4)
    x = torch.randn(4, 8, 6, 6)
    grad = torch.randn(4, 8, 6, 6)
    results = []
    for fused in (True, False):
        weights = torch.rand(len(PRIMITIVES), generator=torch.Generator().manual_seed(5))
        inputs = (x.clone().requires_grad_(), weights.requires_grad_())
        out = edge(*inputs) if fused else sum(
            inputs[1][c] * op(inputs[0]) for c, op in zip(edge.columns, edge.ops))
        results.append([out, *torch.autograd.grad(out, (*inputs, *edge.parameters()), grad)])
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs)


def test_the_mixed_edge_without_autograd_is_the_same_sum():
    edge = MixedEdge(8).eval()
    randomise_(edge, seed=6)
    x, weights = torch.randn(4, 8, 6, 6), torch.rand(len(PRIMITIVES))
    with torch.no_grad():
        plain = edge(x, weights)
    assert torch.equal(plain, edge(x, weights.requires_grad_()))


def derived_state_dict(search: SearchHOGA, genotype: Genotype) -> dict:
    """The search cell's weights under the derived HOGA's names."""
    state = {}
    for key, value in search.state_dict().items():
        parts = key.split('.')
        if parts[0] == 'edges':
            edge, candidate = int(parts[1]), int(parts[3])
            column = search.edges[edge].columns[candidate]
            if PRIMITIVES[column] != genotype.edges[edge][0]:
                continue
            key = '.'.join(['edges', parts[1]] + parts[4:])
        state[key] = value
    return state


def search_and_derived(seed: int):
    search = SearchHOGA(16).train()
    randomise_(search, seed)
    derived = HOGA(16, genotype=GENOTYPE).train()
    missing, unexpected = derived.load_state_dict(derived_state_dict(search, GENOTYPE),
                                                  strict=False)
    # Only the affine parameters of the derived operations' BNs are new.
    assert not unexpected
    assert missing and all(k.startswith('edges.') and k.endswith(('bn.weight', 'bn.bias'))
                           for k in missing)
    return search, derived


def test_a_one_hot_search_cell_equals_the_derived_hoga_bitwise():
    search, derived = search_and_derived(seed=3)
    x = torch.randn(3, 16, 6, 6)
    weights = one_hot([PRIMITIVES.index(op) for op, _ in GENOTYPE.edges])
    assert torch.equal(search(x, weights), derived(x))


def test_a_large_alpha_search_cell_equals_the_derived_hoga_closely():
    search, derived = search_and_derived(seed=4)
    x = torch.randn(3, 16, 6, 6)
    alpha = 40.0 * one_hot([PRIMITIVES.index(op) for op, _ in GENOTYPE.edges])
    out = search(x, alpha.softmax(dim=-1))
    torch.testing.assert_close(out, derived(x), rtol=1e-6, atol=1e-6)
    assert not torch.allclose(search(x, torch.full((10, 9), 1 / 9)), out, atol=1e-3)


def test_the_search_cell_needs_weights_of_its_shape():
    cell = SearchHOGA(16)
    x = torch.randn(2, 16, 4, 4)
    with pytest.raises(TypeError, match='mixing_weights'):
        cell(x)
    with pytest.raises(ValueError, match=r'shape \(6, 9\).*expects \(10, 9\)'):
        cell(x, torch.zeros(6, 9))


def test_the_search_cell_has_no_genotype_but_the_dag_of_alpha_rows():
    cell = SearchHOGA(16)
    assert not hasattr(cell, 'genotype')
    assert 'none:' not in repr(cell) and 'in_channels=16, groups=4' in repr(cell)
    assert [slot for node in cell.node_edges for _, slot in node] == [0, 0, 1, 0, 1, 2, 0, 1,
                                                                      2, 3]
    assert [e for node in cell.node_edges for e, _ in node] == list(range(10))
