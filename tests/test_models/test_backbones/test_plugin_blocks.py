"""Plugin positions of BasicBlock and Bottleneck, checked against the block
computed layer by layer with torch.nn.functional."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from autola_mm.models.backbones import BasicBlock, Bottleneck


def affine(position, scale=1.0, shift=0.0, postfix=''):
    return dict(cfg=dict(type='ToyAffinePlugin', scale=scale, shift=shift, postfix=postfix),
                position=position)


def randomize_norms(module):
    """Give every BN non-trivial statistics and affine parameters."""
    torch.manual_seed(1)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    return module.eval()


def conv_bn(x, conv, bn, stride=1, padding=0):
    y = F.conv2d(x, conv.weight, stride=stride, padding=padding)
    return F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0,
                        bn.eps)


def basic_reference(block, x, after_conv1=lambda t: t, after_conv2=lambda t: t):
    out = after_conv1(F.relu(conv_bn(x, block.conv1, block.bn1, padding=1)))
    out = after_conv2(conv_bn(out, block.conv2, block.bn2, padding=1))
    return F.relu(out + x)


def bottleneck_reference(block, x, after=None):
    after = after or {}
    keep = lambda t: t  # noqa: E731
    out = after.get('after_conv1', keep)(F.relu(conv_bn(x, block.conv1, block.bn1)))
    out = after.get('after_conv2', keep)(F.relu(conv_bn(out, block.conv2, block.bn2,
                                                        padding=1)))
    out = after.get('after_conv3', keep)(conv_bn(out, block.conv3, block.bn3))
    return F.relu(out + x)


@pytest.mark.parametrize('position', ['after_conv1', 'after_conv2'])
def test_basic_block_plugin_positions(position):
    block = randomize_norms(BasicBlock(8, 8, plugins=[affine(position, 2.0, 0.5)]))
    x = torch.randn(2, 8, 7, 5)
    expected = basic_reference(block, x, **{position: lambda t: t * 2.0 + 0.5})
    plain = basic_reference(block, x)
    torch.testing.assert_close(block(x), expected)
    assert not torch.allclose(expected, plain)


def test_basic_block_zero_plugin_after_conv2_leaves_the_shortcut():
    # AutoLA's supernet position: a plugin that outputs zeros there turns the
    # block into relu(x), whatever the convolutions hold.
    block = randomize_norms(BasicBlock(4, 4, plugins=[affine('after_conv2', 0.0)]))
    x = torch.randn(1, 4, 6, 6)
    torch.testing.assert_close(block(x), F.relu(x))


@pytest.mark.parametrize('position', ['after_conv1', 'after_conv2', 'after_conv3'])
def test_bottleneck_plugin_positions(position):
    block = randomize_norms(Bottleneck(16, 4, plugins=[affine(position, -1.5, 0.25)]))
    x = torch.randn(2, 16, 5, 9)
    expected = bottleneck_reference(block, x, {position: lambda t: t * -1.5 + 0.25})
    torch.testing.assert_close(block(x), expected)
    assert not torch.allclose(expected, bottleneck_reference(block, x))


def test_plugins_at_one_position_run_in_order():
    plugins = [affine('after_conv2', scale=2.0, postfix=1), affine('after_conv2', shift=1.0,
                                                                  postfix=2)]
    block = randomize_norms(BasicBlock(4, 4, plugins=plugins))
    x = torch.randn(1, 4, 5, 5)
    assert block.plugin_names['after_conv2'] == ['toy_affine1', 'toy_affine2']
    torch.testing.assert_close(block(x), basic_reference(block, x, after_conv2=lambda t: t * 2 + 1))


def test_plugins_get_the_channels_of_their_position():
    plugins = [affine('after_conv1', postfix='a'), affine('after_conv2', postfix='b'),
               affine('after_conv3', postfix='c')]
    block = Bottleneck(64, 16, widen_factor=2, plugins=plugins)
    assert block.toy_affinea.in_channels == 32
    assert block.toy_affineb.in_channels == 32
    assert block.toy_affinec.in_channels == 64
    assert block.conv2.weight.shape == (32, 32, 3, 3)
    basic = BasicBlock(8, 12, plugins=[affine('after_conv1', postfix=1),
                                       affine('after_conv2', postfix=2)],
                       downsample=nn.Conv2d(8, 12, 1))
    assert (basic.toy_affine1.in_channels, basic.toy_affine2.in_channels) == (12, 12)


def test_plugin_weights_are_named_under_the_block():
    plugin = dict(cfg=dict(type='ToyNormPlugin'), position='after_conv3')
    block = Bottleneck(16, 4, plugins=[plugin])
    assert 'toy_norm.conv.weight' in block.state_dict()
    assert [type(p).__name__ for p in block.plugin_layers()] == ['ToyNormPlugin']


def test_basic_block_refuses_after_conv3():
    with pytest.raises(ValueError, match="BasicBlock has no plugin position 'after_conv3'.*"
                       'after_conv1, after_conv2'):
        BasicBlock(8, 8, plugins=[affine('after_conv3')])


def test_bottleneck_refuses_unknown_position():
    with pytest.raises(ValueError, match="'before_conv1'.*after_conv1, after_conv2, after_conv3"):
        Bottleneck(16, 4, plugins=[affine('before_conv1')])


def test_plugin_without_position_or_cfg_is_a_key_error():
    with pytest.raises(KeyError, match="'position'"):
        BasicBlock(8, 8, plugins=[dict(cfg=dict(type='ToyAffinePlugin'))])
    with pytest.raises(KeyError, match="'cfg'"):
        BasicBlock(8, 8, plugins=[dict(position='after_conv1')])


def test_plugins_given_as_a_dict_instead_of_a_list_are_a_type_error():
    with pytest.raises(TypeError, match="plugin 'cfg' is not a dict"):
        BasicBlock(8, 8, plugins=dict(cfg=dict(type='ToyAffinePlugin'), position='after_conv1'))


def test_duplicate_plugin_names_ask_for_a_postfix():
    with pytest.raises(ValueError, match="'toy_affine'.*postfix"):
        BasicBlock(8, 8, plugins=[affine('after_conv1'), affine('after_conv2')])


@pytest.mark.parametrize('block_type', [BasicBlock, Bottleneck])
def test_activation_checkpointing_gives_the_same_output_and_gradients(block_type):
    torch.manual_seed(0)
    plugins = [dict(cfg=dict(type='ToyNormPlugin'), position='after_conv2')]
    planes = 8 if block_type is BasicBlock else 2
    downsample = nn.Sequential(nn.Conv2d(8, planes * block_type.expansion, 1, stride=2),
                               nn.BatchNorm2d(planes * block_type.expansion))
    block = block_type(8, planes, stride=2, downsample=downsample, plugins=plugins)
    checkpointed = copy.deepcopy(block)
    checkpointed.with_cp = True
    x = torch.randn(2, 8, 9, 9, requires_grad=True)
    outputs, grads = [], []
    for model in (block, checkpointed):
        out = model(x)
        out.square().sum().backward()
        outputs.append(out)
        grads.append([p.grad.clone() for p in model.parameters()] + [x.grad.clone()])
        x.grad = None
    assert outputs[0].shape == (2, planes * block_type.expansion, 5, 5)
    torch.testing.assert_close(outputs[0], outputs[1])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_options_after_the_widths_are_keyword_only():
    with pytest.raises(TypeError, match='positional'):
        BasicBlock(8, 8, 2)
    with pytest.raises(TypeError, match='positional'):
        Bottleneck(16, 4, 1, 1, None, 2)


def test_the_base_owns_shortcut_relu_and_checkpointing():
    downsample = nn.Conv2d(4, 8, 1, stride=2)
    block = Bottleneck(4, 2, stride=2, downsample=downsample, with_cp=True)
    assert block.downsample is downsample and block.with_cp
    assert isinstance(block.relu, nn.ReLU)
    assert block.plugin_names == {p: [] for p in Bottleneck.plugin_positions}
