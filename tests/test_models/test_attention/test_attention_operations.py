"""The nine HOGA operations: table order, shapes, and the conv gates against F.conv2d."""
import pytest
import torch
import torch.nn.functional as F

from autola_mm.models import CBAM, OPERATIONS, PRIMITIVES, SE
from autola_mm.models.attention import build_operation

EXPECTED_PRIMITIVES = ('none', 'skip_connect', 'sep_conv_3x3', 'dil_conv_3x3',
                       'sep_conv_3x3_spatial', 'dil_conv_3x3_spatial', 'SE', 'SE_A_M', 'CBAM')


def test_primitive_order_is_the_alpha_column_order():
    assert PRIMITIVES == EXPECTED_PRIMITIVES
    assert tuple(OPERATIONS) == EXPECTED_PRIMITIVES
    with pytest.raises(TypeError):
        OPERATIONS['extra'] = None


# Parameters of every operation on 8 channels (affine BN), counted by hand.
PARAMETERS_C8 = {
    'none': 0,
    'skip_connect': 0,
    'sep_conv_3x3': 2 * (8 * 9 + 8 * 8 + 2 * 8),
    'dil_conv_3x3': 8 * 9 + 8 * 8 + 2 * 8,
    'sep_conv_3x3_spatial': (2 * 9 + 2 * 2 + 2 * 2) + (2 * 9 + 2 * 1 + 2 * 1),
    'dil_conv_3x3_spatial': 2 * 9 + 1 + 2,
    'SE': 2 * 8 * 2,
    'SE_A_M': 2 * 8 * 2,
    'CBAM': (8 * 2 + 2) + (2 * 8 + 8) + 2 * 49 + 2,
}


@pytest.mark.parametrize('name', EXPECTED_PRIMITIVES)
@pytest.mark.parametrize('affine', [True, False])
def test_operation_shape_and_parameters(name, affine):
    torch.manual_seed(0)
    op = build_operation(name, 8, affine=affine)
    bn_parameters = sum(2 * m.num_features for m in op.modules()
                        if isinstance(m, torch.nn.BatchNorm2d))
    expected = PARAMETERS_C8[name] - (0 if affine else bn_parameters)
    assert sum(p.numel() for p in op.parameters()) == expected
    x = torch.randn(2, 8, 5, 3)
    out = op(x)
    assert out.shape == x.shape and out.dtype == x.dtype


def test_none_and_skip_connect():
    x = torch.randn(2, 4, 3, 3)
    assert torch.equal(build_operation('none', 4)(x), torch.zeros_like(x))
    assert build_operation('skip_connect', 4)(x) is x


def test_attention_operations_are_the_plugins_at_reduction_4():
    se, se_am, cbam = (build_operation(n, 16) for n in ('SE', 'SE_A_M', 'CBAM'))
    assert type(se) is SE and not se.with_max_pool
    assert type(se_am) is SE and se_am.with_max_pool
    assert type(cbam) is CBAM
    assert se.mlp.fc1.weight.shape == (4, 16) and cbam.channel_mlp.fc1.weight.shape == (4, 16)


def test_unknown_operation_lists_the_known_ones():
    with pytest.raises(KeyError, match="'max_pool_3x3'.*sep_conv_3x3_spatial"):
        build_operation('max_pool_3x3', 8)


def _bn(x, bn):
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False,
                        eps=bn.eps)


def _randomise_bn_statistics(module):
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)


def _channel_pool(x):
    return torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], 1)


def _sep_reference(x, op, channels):
    c1, c2 = op.conv1, op.conv2
    y = F.conv2d(x, c1.spatial.weight, padding=1, groups=channels)
    y = F.relu(_bn(F.conv2d(y, c1.pointwise.weight), c1.bn))
    y = F.conv2d(y, c2.spatial.weight, padding=1, groups=channels)
    return _bn(F.conv2d(y, c2.pointwise.weight), c2.bn)


def _dil_reference(x, op, groups):
    y = F.conv2d(x, op.conv.spatial.weight, padding=2, dilation=2, groups=groups)
    return _bn(F.conv2d(y, op.conv.pointwise.weight), op.conv.bn)


@pytest.mark.parametrize('name', ['sep_conv_3x3', 'dil_conv_3x3', 'sep_conv_3x3_spatial',
                                  'dil_conv_3x3_spatial'])
def test_conv_gates_against_functional_reference(name):
    torch.manual_seed(2)
    op = build_operation(name, 6).eval()
    with torch.no_grad():
        _randomise_bn_statistics(op)
    x = torch.randn(2, 6, 7, 5)
    logits = {
        'sep_conv_3x3': lambda: _sep_reference(x, op, 6),
        'dil_conv_3x3': lambda: _dil_reference(x, op, 6),
        'sep_conv_3x3_spatial': lambda: _sep_reference(_channel_pool(x), op, 2),
        'dil_conv_3x3_spatial': lambda: _dil_reference(_channel_pool(x), op, 1),
    }[name]()
    expected_shape = (2, 1, 7, 5) if name.endswith('spatial') else (2, 6, 7, 5)
    assert logits.shape == expected_shape
    torch.testing.assert_close(op(x), x * torch.sigmoid(logits))


def test_spatial_gate_weights_do_not_depend_on_channels():
    shapes = [tuple(p.shape) for p in build_operation('sep_conv_3x3_spatial', 4).parameters()]
    assert shapes == [tuple(p.shape) for p in
                      build_operation('sep_conv_3x3_spatial', 64).parameters()]
    assert build_operation('dil_conv_3x3_spatial', 4).conv.spatial.weight.shape == (1, 2, 3, 3)


@pytest.mark.parametrize('name', ['sep_conv_3x3', 'dil_conv_3x3', 'sep_conv_3x3_spatial',
                                  'dil_conv_3x3_spatial', 'SE', 'SE_A_M', 'CBAM'])
def test_operations_gradcheck(name):
    torch.manual_seed(3)
    op = build_operation(name, 4).double().eval()
    with torch.no_grad():
        _randomise_bn_statistics(op)
    x = torch.randn(2, 4, 3, 3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(op, (x, ), fast_mode=True)
