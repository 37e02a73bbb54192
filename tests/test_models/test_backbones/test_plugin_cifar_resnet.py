"""PluginCifarResNet: 6n+2 depths, three stages, plugins in every basic block."""
import pytest
import torch
from mmengine.registry import MODELS

from autola_mm.models.backbones import BasicBlock, PluginCifarResNet, PluginResNetBase


def counted_parameters(depth, base):
    """Parameters of a CIFAR ResNet with 1x1-conv shortcuts, counted by hand."""
    n = (depth - 2) // 6
    total = 3 * 9 * base + 2 * base  # stem conv, BN
    in_channels = base
    for stage in range(3):
        width = base * 2**stage
        for block in range(n):
            block_in = in_channels if block == 0 else width
            total += 9 * block_in * width + 9 * width * width + 4 * width
            if block_in != width:
                total += block_in * width + 2 * width
        in_channels = width
    return total


def test_resnet20_has_the_hand_counted_parameters():
    assert sum(p.numel() for p in PluginCifarResNet(20).parameters()) == 271_824


@pytest.mark.parametrize('depth', [20, 32, 44, 56, 110])
@pytest.mark.parametrize('base', [16, 64])
def test_parameter_count_of_every_depth(depth, base):
    with torch.device('meta'):
        model = PluginCifarResNet(depth, base_channels=base)
    assert sum(p.numel() for p in model.parameters()) == counted_parameters(depth, base)
    assert len(model.layer3) == (depth - 2) // 6


def test_stage_shapes_and_names():
    model = PluginCifarResNet(20, out_indices=(0, 1, 2)).eval()
    outs = model(torch.rand(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 32, 32), (2, 32, 16, 16), (2, 64, 8, 8)]
    keys = model.state_dict().keys()
    assert {'conv1.weight', 'layer1.2.bn2.bias', 'layer2.0.downsample.0.weight'} <= set(keys)
    assert 'layer1.0.downsample.0.weight' not in keys
    assert not hasattr(model, 'maxpool')


def test_default_output_is_the_last_stage():
    model = PluginCifarResNet(20, base_channels=64).eval()
    (out, ) = model(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 256, 8, 8) and model.out_channels == (256, )


def test_supernet_plugins_after_conv2_of_every_block():
    model = PluginCifarResNet(20, plugins=[dict(cfg=dict(type='ToyAffinePlugin'),
                                                position='after_conv2')])
    plugins = list(model.plugin_layers())
    assert len(plugins) == 9
    assert [p.in_channels for p in plugins] == [16] * 3 + [32] * 3 + [64] * 3


def test_four_stage_supernet_of_the_authors_code():
    model = PluginCifarResNet(stage_blocks=(3, 4, 6, 3), out_indices=(0, 1, 2, 3)).eval()
    outs = model(torch.rand(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 32, 32), (1, 32, 16, 16), (1, 64, 8, 8),
                                              (1, 128, 4, 4)]
    assert model.depth == 34


def test_built_from_the_root_registry():
    model = MODELS.build(dict(type='PluginCifarResNet', depth=32))
    assert len(model.layer1) == 5


@pytest.mark.parametrize('kwargs,error,message', [
    (dict(depth=21), ValueError, 'depth=21 .*6n\\+2'),
    (dict(depth=2), ValueError, 'depth=2 '),
    (dict(stage_blocks=(3, 0, 3)), ValueError, r'stage_blocks=\(3, 0, 3\)'),
    (dict(strides=(1, 2)), ValueError, r'strides=\(1, 2\) .*3 stages'),
    (dict(plugins=[dict(cfg=dict(type='ToyAffinePlugin'), position='after_conv3')]), ValueError,
     "'after_conv3'.*after_conv1, after_conv2"),
])
def test_bad_arguments_name_the_value(kwargs, error, message):
    with pytest.raises(error, match=message):
        PluginCifarResNet(**kwargs)


def test_extra_inputs_reach_every_plugin():
    """``backbone(x, shift)`` hands ``shift`` to the plugins (as a search model
    hands its mixing weights): the same network as a plugin that holds it."""
    torch.manual_seed(0)
    holds = PluginCifarResNet(8, base_channels=4, plugins=[
        dict(cfg=dict(type='ToyAffinePlugin', shift=0.5), position='after_conv2')]).eval()
    given = PluginCifarResNet(8, base_channels=4, plugins=[
        dict(cfg=dict(type='ToyShiftPlugin'), position='after_conv2')]).eval()
    given.load_state_dict(holds.state_dict())
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(given(x, torch.tensor(0.5)), holds(x))
    assert not torch.allclose(given(x, torch.tensor(0.0))[-1], holds(x)[-1])


def test_options_after_depth_are_keyword_only():
    with pytest.raises(TypeError, match='positional'):
        PluginCifarResNet(20, 16)
    with pytest.raises(TypeError, match='positional'):
        PluginResNetBase(BasicBlock, (1, ), 16, 16, (1, ), (1, ))
