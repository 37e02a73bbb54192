"""HOGA: parameter counts, shapes, modes, gradients, layouts, autocast, compile, errors."""
import copy
import warnings

import pytest
import torch

from autola_mm.models import DEFAULT_GENOTYPE, HOGA, Genotype
from autola_mm.models.attention.hoga import HOGABase
from autola_mm.ops import compiled_ops_available, forced_ops_mode

# The parameter table of autola-method.md (the authors' HOGA, default genotype).
PARAMETERS = {16: 1405, 32: 4262, 64: 14744, 256: 211364, 512: 830132, 1024: 3290324,
              2048: 13101332}
EVERY_OPERATION = ('SE_A_M:0 | dil_conv_3x3_spatial:0 SE:1 | dil_conv_3x3:0 '
                   'sep_conv_3x3_spatial:1 CBAM:2 | sep_conv_3x3:0 skip_connect:1 none:2 SE:3')


def _parameters(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('channels', sorted(PARAMETERS))
def test_parameter_count_matches_the_authors(channels):
    with torch.device('meta'):
        hoga = HOGA(in_channels=channels)
    assert _parameters(hoga) == PARAMETERS[channels]


def test_structure_of_the_default_module():
    hoga = HOGA(64)
    assert hoga.group_channels == 16 and len(hoga.edges) == 10
    assert hoga.group_se.mlp.fc1.weight.shape == (2, 16)   # floor(16 / 8)
    assert hoga.out_se.mlp.fc1.weight.shape == (8, 64)     # floor(64 / 8)
    assert hoga.proj_conv1.weight.shape == (64, 80, 1, 1)  # 5C/4 -> C
    assert hoga.proj_conv2.weight.shape == (64, 64, 1, 1)
    assert hoga.proj_conv1.bias is None and hoga.proj_conv2.bias is None
    assert [type(e).__name__ for e in hoga.edges[:4]] == [
        'Identity', 'SepConvGate', 'SepConvGate', 'CBAM']


def test_minimum_hidden_width_option():
    # floor(4 / 8) = 0 at C = 16; a minimum of 1 adds fc1 (1 x 4) and fc2 (4 x 1).
    hoga = HOGA(16, min_rd_channels=1)
    assert hoga.group_se.mlp.fc1.weight.shape == (1, 4)
    assert _parameters(hoga) == PARAMETERS[16] + 8


SHAPE_CASES = [(c, hw) for c in (16, 64, 256, 2048) for hw in ((1, 1), (7, 7), (33, 17))]


@pytest.fixture(scope='module')
def hoga_by_channels():
    torch.manual_seed(0)
    return {c: HOGA(c).eval() for c in (16, 64, 256, 2048)}


@pytest.mark.parametrize('channels,size', SHAPE_CASES)
def test_eval_output_shape_and_dtype(hoga_by_channels, channels, size):
    # Eval mode (BN running statistics): 1x1 maps are fine at any batch size.
    batch = 1 if channels == 2048 else 2
    x = torch.randn(batch, channels, *size)
    with torch.no_grad():
        out = hoga_by_channels[channels](x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all()


@pytest.mark.parametrize('size', [(1, 1), (7, 7), (33, 17)])
def test_train_output_shape_and_batch_statistics(size):
    # Train mode on a 1x1 map needs N > 1 (BN of one value per channel fails in
    # PyTorch), which is what happens in a real network; N = 2 here.
    torch.manual_seed(0)
    hoga = HOGA(16).train()
    x = torch.randn(2, 16, *size)
    out = hoga(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert hoga.proj_bn1.num_batches_tracked.item() == 1
    hoga.eval()
    assert not torch.allclose(hoga(x), out)


def test_bfloat16_module_keeps_bfloat16():
    hoga = HOGA(64).eval().to(torch.bfloat16)
    x = torch.randn(2, 64, 7, 7, dtype=torch.bfloat16)
    with torch.no_grad():
        out = hoga(x)
    assert out.shape == x.shape and out.dtype == torch.bfloat16


@pytest.mark.parametrize('genotype', [None, EVERY_OPERATION])
def test_gradients_reach_every_parameter(genotype):
    torch.manual_seed(0)
    hoga = HOGA(64, genotype).train()
    x = torch.randn(2, 64, 7, 5, requires_grad=True)
    (hoga(x) * torch.randn(2, 64, 7, 5)).sum().backward()
    assert x.grad.abs().sum() > 0
    for name, param in hoga.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_gradcheck_small_module():
    torch.manual_seed(0)
    hoga = HOGA(16, EVERY_OPERATION).double().eval()
    x = torch.randn(2, 16, 3, 3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(hoga, (x, ), fast_mode=True)


@pytest.mark.parametrize('train', [False, True])
def test_channels_last_matches_contiguous(train):
    torch.manual_seed(0)
    hoga = HOGA(32, EVERY_OPERATION).train(train)
    x = torch.randn(2, 32, 9, 6)
    expected = hoga(x)
    out = hoga(x.contiguous(memory_format=torch.channels_last))
    assert out.shape == x.shape and out.dtype == x.dtype
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('path', ['reference', 'compiled'])
def test_bfloat16_autocast_on_cpu(path):
    if path == 'compiled' and not compiled_ops_available('cpu'):
        pytest.skip('the compiled attention core is not built for the CPU')
    torch.manual_seed(0)
    hoga = HOGA(64).eval()
    x = torch.randn(2, 64, 7, 7)
    with torch.no_grad(), forced_ops_mode(path):
        expected = hoga(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = hoga(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, expected, rtol=0.05, atol=0.05)
    if path == 'reference':
        assert not torch.equal(out, expected)  # its convolutions ran in bfloat16
    else:
        # The CPU kernels cover float32 and float64: under autocast each
        # operator takes the widest dtype of its inputs, here float32.
        assert torch.equal(out, expected)


def test_torch_compile_matches_eager():
    torch.manual_seed(0)
    hoga = HOGA(32, EVERY_OPERATION).eval()
    x = torch.randn(2, 32, 7, 5)
    compiled = torch.compile(hoga, fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), hoga(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('groups,channels', [(1, 8), (2, 8), (3, 12)])
def test_other_group_counts(groups, channels):
    genotype = {1: 'CBAM:0', 2: 'SE:0 | sep_conv_3x3:1 skip_connect:0',
                3: 'skip_connect:0 | SE:0 CBAM:1 | dil_conv_3x3:2 SE_A_M:0 none:1'}[groups]
    hoga = HOGA(channels, genotype, groups=groups).eval()
    assert len(hoga.edges) == groups * (groups + 1) // 2
    assert hoga.proj_conv1.weight.shape == (channels, channels // groups * (groups + 1), 1, 1)
    x = torch.randn(2, channels, 5, 4)
    assert hoga(x).shape == x.shape


def test_the_base_walks_the_dag_with_the_edges_it_is_given():
    # Edge e scales its slot by e + 1: the DAG walk of the published genotype
    # can then be written out by hand.

    class ScaledEdges(HOGABase):

        def __init__(self, in_channels):
            node_slots = [[slot for _, slot in node] for node in DEFAULT_GENOTYPE.nodes]
            super().__init__(in_channels, 4, node_slots, edges=[])

        def forward(self, x):
            return self.attend(x, [lambda t, scale=e + 1: scale * t for e in range(10)])

    torch.manual_seed(0)
    hoga = ScaledEdges(16).eval()
    assert _parameters(hoga) == PARAMETERS[16] - 701   # the edges' parameters are gone
    x = torch.randn(2, 16, 3, 3)
    g0, g1, g2, g3 = x.split(4, dim=1)
    n1 = 1 * g0
    n2 = 2 * g1 + 3 * n1
    n3 = 4 * g2 + 5 * n2 + 6 * n1
    n4 = 7 * g3 + 8 * n1 + 9 * n3 + 10 * n2
    y = torch.cat([n1, n2, n3, n4, hoga.group_se(g0 + g1 + g2 + g3)], dim=1)
    y = hoga.proj_bn1(hoga.proj_conv1(y))
    y = hoga.proj_bn2(hoga.proj_conv2(torch.relu(y)))
    torch.testing.assert_close(hoga(x), hoga.out_se(y + x))


def test_init_weights():
    hoga = HOGA(256)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        hoga.init_weights()
    assert torch.all(hoga.proj_bn2.weight == 1) and torch.all(hoga.proj_bn2.bias == 0)
    assert torch.all(hoga.edges[1].conv1.bn.weight == 1)
    # Kaiming normal, fan out = 256, ReLU gain: std = sqrt(2 / 256).
    std = hoga.proj_conv2.weight.std().item()
    assert abs(std - (2 / 256)**0.5) < 0.05 * (2 / 256)**0.5


def test_zero_width_construction_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        HOGA(16)


@pytest.mark.parametrize('kwargs,match', [
    (dict(in_channels=18), 'in_channels=18 is not divisible by groups=4'),
    (dict(in_channels=16, groups=3), 'in_channels=16 is not divisible by groups=3'),
    (dict(in_channels=16, groups=0), 'groups=0'),
    (dict(in_channels=0), 'in_channels=0'),
    (dict(in_channels=16, genotype=EVERY_OPERATION.rsplit(' ', 1)[0]), 'node 4 has 3 edges'),
    (dict(in_channels=12, groups=3), 'no default genotype for groups=3'),
])
def test_bad_arguments_name_the_bad_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HOGA(**kwargs)


def test_unknown_operation_in_the_genotype():
    with pytest.raises(KeyError, match="'avg_pool_3x3'"):
        HOGA(16, EVERY_OPERATION.replace('none', 'avg_pool_3x3'))


def test_missing_genotype_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='genotype file not found: .*searched.json'):
        HOGA(16, str(tmp_path / 'searched.json'))


def test_wrong_input_channels():
    with pytest.raises(ValueError, match=r'\(2, 32, 4, 4\).*\(N, 16, H, W\)'):
        HOGA(16)(torch.randn(2, 32, 4, 4))


def test_genotype_is_exposed_and_survives_copies():
    hoga = HOGA(16, EVERY_OPERATION)
    assert hoga.genotype == Genotype.parse(EVERY_OPERATION)
    assert f'genotype={EVERY_OPERATION!r}' in repr(hoga)
    assert copy.deepcopy(hoga).genotype == hoga.genotype
