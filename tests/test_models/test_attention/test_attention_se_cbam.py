"""SE, SE_A_M and CBAM against hand-written formulas, and the plugin protocol."""
import warnings

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import MODELS

from autola_mm import ops as autola_ops
from autola_mm.models import CBAM, HOGA, SE
from autola_mm.models.attention import reduced_channels
from autola_mm.ops import compiled_ops_available


def test_se_hand_computed_values():
    # Channel 0 is all 1, channel 1 all 3: avg = (1, 3); hidden = relu(1 + 3) = 4;
    # logits = 4 * (0.5, -0.25) = (2, -1).
    se = SE(2, rd_channels=1)
    with torch.no_grad():
        se.mlp.fc1.weight.fill_(1.0)
        se.mlp.fc2.weight.copy_(torch.tensor([[0.5], [-0.25]]))
    x = torch.stack([torch.ones(2, 3), torch.full((2, 3), 3.0)])[None]
    out = se(x)
    assert out.shape == (1, 2, 2, 3)
    torch.testing.assert_close(out[0, 0], torch.full((2, 3), 0.8807970779778823))
    torch.testing.assert_close(out[0, 1], torch.full((2, 3), 3 * 0.2689414213699951))


def _mlp(p, w1, w2, b1=None, b2=None):
    return F.linear(F.relu(F.linear(p, w1, b1)), w2, b2)


@pytest.mark.parametrize('with_max_pool', [False, True])
def test_se_formula(with_max_pool):
    torch.manual_seed(0)
    se = SE(8, rd_ratio=1 / 4, with_max_pool=with_max_pool)
    x = torch.randn(3, 8, 4, 5)
    w1, w2 = se.mlp.fc1.weight, se.mlp.fc2.weight
    assert w1.shape == (2, 8) and se.mlp.fc1.bias is None and se.mlp.fc2.bias is None
    logits = _mlp(x.mean((2, 3)), w1, w2)
    if with_max_pool:
        logits = logits + _mlp(x.amax((2, 3)), w1, w2)
    torch.testing.assert_close(se(x), x * torch.sigmoid(logits)[:, :, None, None])


def test_se_zero_width_is_a_half_gate():
    # floor(4 / 8) = 0: the authors' group SE at C = 16 gates with sigmoid(0).
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        se = SE(4, rd_ratio=1 / 8)
    assert se.mlp.fc1.weight.shape == (0, 4)
    x = torch.randn(2, 4, 3, 3, requires_grad=True)
    out = se(x)
    torch.testing.assert_close(out, 0.5 * x)
    out.sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 0.5))
    # The same numbers as the general pattern, which pools x and runs the MLP.
    for path in ('compiled', 'reference') if compiled_ops_available() else ('reference', ):
        general = getattr(autola_ops, path).channel_attention(x, se.channel_logits,
                                                              tuple(se.parameters()))
        assert torch.equal(general, out)


def test_se_zero_width_runs_its_mlp_where_hooks_are_on_it():
    # The half gate skips the MLP; a hook on the MLP or a layer of it still runs, with
    # the same numbers (the logits are 0 either way).
    se = SE(4, rd_ratio=1 / 8)
    x = torch.randn(2, 4, 3, 3)
    seen = []
    se.mlp.fc1.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    torch.testing.assert_close(se(x), 0.5 * x)
    assert seen == [(2, 0)]


@pytest.mark.parametrize('channels', [4, 64])
def test_se_rejects_a_map_of_other_channels(channels):
    se = SE(channels, rd_ratio=1 / 8)
    with pytest.raises(ValueError, match=rf'input of shape \(2, 3, 5, 5\): expected '
                       rf'\(N, {channels}, H, W\)'):
        se(torch.randn(2, 3, 5, 5))


def test_cbam_rejects_a_map_of_other_channels():
    cbam = CBAM(64)
    with pytest.raises(ValueError, match=r'input of shape \(2, 3, 5, 5\): expected '
                       r'\(N, 64, H, W\)'):
        cbam(torch.randn(2, 3, 5, 5))


@pytest.mark.parametrize('channels,ratio,minimum,expected', [
    (4, 1 / 8, 0, 0), (4, 1 / 8, 1, 1), (64, 1 / 8, 0, 8), (9, 1 / 3, 0, 3), (30, 1 / 4, 0, 7),
    (2048, 1 / 16, 0, 128), (16, 1, 0, 16)
])
def test_reduced_channels_is_floor(channels, ratio, minimum, expected):
    assert reduced_channels(channels, ratio, min_rd_channels=minimum) == expected


def test_rd_channels_overrides_ratio():
    assert SE(64, rd_ratio=1 / 8, rd_channels=5).mlp.fc1.weight.shape == (5, 64)


def test_cbam_formula_eval_and_train():
    torch.manual_seed(1)
    cbam = CBAM(8, rd_ratio=1 / 4)
    with torch.no_grad():
        cbam.spatial_bn.running_mean.fill_(0.3)
        cbam.spatial_bn.running_var.fill_(2.0)
        cbam.spatial_bn.weight.fill_(1.5)
        cbam.spatial_bn.bias.fill_(-0.2)
    x = torch.randn(2, 8, 9, 7)
    mlp = cbam.channel_mlp
    assert mlp.fc1.weight.shape == (2, 8) and mlp.fc1.bias is not None
    assert cbam.spatial_conv.weight.shape == (1, 2, 7, 7) and cbam.spatial_conv.bias is None

    def reference(training):
        args = (mlp.fc1.weight, mlp.fc2.weight, mlp.fc1.bias, mlp.fc2.bias)
        channel = _mlp(x.mean((2, 3)), *args) + _mlp(x.amax((2, 3)), *args)
        gated = x * torch.sigmoid(channel)[:, :, None, None]
        pooled = torch.cat([gated.amax(1, keepdim=True), gated.mean(1, keepdim=True)], 1)
        bn = cbam.spatial_bn
        spatial = F.batch_norm(
            F.conv2d(pooled, cbam.spatial_conv.weight, padding=3), bn.running_mean.clone(),
            bn.running_var.clone(), bn.weight, bn.bias, training=training)
        return gated * torch.sigmoid(spatial)

    cbam.eval()
    torch.testing.assert_close(cbam(x), reference(False))
    cbam.train()
    torch.testing.assert_close(cbam(x), reference(True))


def test_cbam_affine_false_has_no_bn_parameters():
    cbam = CBAM(16, norm_cfg=dict(type='BN', affine=False))
    assert cbam.spatial_bn.weight is None
    assert sum(p.numel() for p in cbam.parameters()) == (16 + 1) * 1 + (1 + 1) * 16 + 98


@pytest.mark.parametrize('kwargs,match', [
    (dict(in_channels=8, rd_ratio=0), 'rd_ratio=0'),
    (dict(in_channels=8, rd_ratio=2.0), 'rd_ratio=2.0'),
    (dict(in_channels=8, rd_channels=-1), 'rd_channels=-1'),
    (dict(in_channels=8, min_rd_channels=-2), 'min_rd_channels=-2'),
    (dict(in_channels=0), 'channels=0'),
])
def test_se_rejects_bad_widths(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SE(**kwargs)


def test_cbam_rejects_even_kernel():
    with pytest.raises(ValueError, match='kernel_size=4'):
        CBAM(8, kernel_size=4)


@pytest.mark.parametrize('cls,abbr', [(SE, 'se'), (CBAM, 'cbam'), (HOGA, 'hoga')])
def test_registered_in_root_registry_with_abbr(cls, abbr):
    assert MODELS.get(cls.__name__) is cls
    assert cls._abbr_ == abbr
    module = MODELS.build(dict(type=cls.__name__, in_channels=16))
    assert isinstance(module, cls) and module.in_channels == 16


def test_built_by_mmcv_build_plugin_layer():
    cnn = pytest.importorskip('mmcv.cnn', reason='mmcv is not installed yet')
    name, layer = cnn.build_plugin_layer(dict(type='CBAM'), postfix='_2', in_channels=32)
    assert name == 'cbam_2' and isinstance(layer, CBAM)


@pytest.mark.parametrize('library', ['mmdet', 'mmpose', 'mmpretrain'])
def test_found_from_each_library_scope(library):
    registry = pytest.importorskip(f'{library}.registry',
                                   reason=f'{library} is not installed yet')
    for name in ('SE', 'CBAM', 'HOGA'):
        assert registry.MODELS.get(name) is MODELS.get(name)


@pytest.mark.parametrize('cls', [SE, CBAM])
def test_init_weights(cls):
    module = cls(64, rd_ratio=1 / 4)
    module.init_weights()
    fc1 = module.mlp.fc1 if cls is SE else module.channel_mlp.fc1
    # Kaiming normal, fan out (16), ReLU gain: std = sqrt(2 / 16).
    assert abs(fc1.weight.std().item() - (2 / 16)**0.5) < 0.1
    if cls is CBAM:
        assert torch.all(module.spatial_bn.weight == 1) and torch.all(module.spatial_bn.bias == 0)
        assert torch.all(module.channel_mlp.fc1.bias == 0)
