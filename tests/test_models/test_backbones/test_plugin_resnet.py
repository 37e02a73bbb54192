"""PluginResNet: torchvision's layout, mmdet's knobs, plugins and freezing."""
import pytest
import torch
import torchvision
from mmengine.registry import MODELS

from autola_mm.models.backbones import PluginResNet

TOY_NORM = dict(cfg=dict(type='ToyNormPlugin'), position='after_conv2')


def shape_dict(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize('depth,widen_factor,torchvision_name', [
    (18, 1, 'resnet18'), (34, 1, 'resnet34'), (50, 1, 'resnet50'), (101, 1, 'resnet101'),
    (152, 1, 'resnet152'), (50, 2, 'wide_resnet50_2'), (101, 2, 'wide_resnet101_2')
])
def test_state_dict_layout_is_torchvision_without_fc(depth, widen_factor, torchvision_name):
    with torch.device('meta'):
        ours = PluginResNet(depth, widen_factor=widen_factor)
        theirs = getattr(torchvision.models, torchvision_name)(weights=None)
    expected = {k: v for k, v in shape_dict(theirs).items() if not k.startswith('fc.')}
    assert shape_dict(ours) == expected


def test_stage_outputs_of_resnet18():
    model = PluginResNet(18).eval()
    outs = model(torch.rand(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(2, 64, 16, 24), (2, 128, 8, 12), (2, 256, 4, 6),
                                              (2, 512, 2, 3)]
    assert model.out_channels == (64, 128, 256, 512)


def test_out_indices_select_and_accept_negative_indices():
    model = PluginResNet(50, out_indices=(-1, 1)).eval()
    outs = model(torch.rand(1, 3, 64, 64))
    assert model.out_indices == (1, 3)
    assert [tuple(o.shape) for o in outs] == [(1, 512, 8, 8), (1, 2048, 2, 2)]


def test_ssd_variant_drops_conv5_and_keeps_conv4_at_stride_one():
    model = PluginResNet(50, num_stages=3, strides=(1, 2, 1), dilations=(1, 1, 1),
                         out_indices=(2, )).eval()
    assert not any(k.startswith('layer4') for k in model.state_dict())
    (out, ) = model(torch.rand(1, 3, 64, 64))
    assert out.shape == (1, 1024, 8, 8)


def test_dilated_last_stage_keeps_the_resolution():
    model = PluginResNet(18, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2),
                         out_indices=(3, )).eval()
    assert model.layer4[0].conv1.dilation == (2, 2)
    assert model.layer4[1].conv1.padding == (2, 2)
    assert model(torch.rand(1, 3, 64, 64))[0].shape == (1, 512, 4, 4)


def test_plugins_go_to_the_selected_stages_only():
    plugins = [dict(cfg=dict(type='ToyAffinePlugin'), position='after_conv3',
                    stages=(False, True, False, True))]
    model = PluginResNet(50, plugins=plugins)
    per_stage = [sum(len(b.plugin_names['after_conv3']) for b in getattr(model, f'layer{i}'))
                 for i in range(1, 5)]
    assert per_stage == [0, 4, 0, 3]
    assert [p.in_channels for p in model.layer2[0].plugin_layers()] == [512]


def test_registered_in_the_root_registry():
    model = MODELS.build(dict(type='PluginResNet', depth=18, out_indices=(3, )))
    assert isinstance(model, PluginResNet)


@pytest.mark.parametrize('kwargs,message', [
    (dict(depth=42), 'depth=42 .*18, 34, 50, 101, 152'),
    (dict(depth=18, widen_factor=2), 'widen_factor=2 .*depth=18'),
    (dict(depth=18, num_stages=5), 'num_stages=5'),
    (dict(depth=18, num_stages=3), r'strides=\(1, 2, 2, 2\) .*3 stages'),
    (dict(depth=18, out_indices=(4, )), r'out_indices=\(4,\) has 4'),
    (dict(depth=18, frozen_stages=5), 'frozen_stages=5'),
    (dict(depth=18, plugins=[dict(cfg=dict(type='ToyAffinePlugin'), position='after_conv1',
                                  stages=(True, False))]), r'stages=\(True, False\)'),
    (dict(depth=18, plugins=[dict(cfg=dict(type='ToyAffinePlugin'), position='after_conv3')]),
     "BasicBlock has no plugin position 'after_conv3'"),
])
def test_bad_arguments_are_value_errors_naming_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PluginResNet(**kwargs)


def test_frozen_stages_keep_plugins_trainable():
    model = PluginResNet(18, frozen_stages=1, plugins=[TOY_NORM]).train()
    assert not model.conv1.weight.requires_grad and not model.bn1.training
    assert not model.layer1[0].conv1.weight.requires_grad
    assert not model.layer1[1].bn2.training and not model.layer1[0].bn2.weight.requires_grad
    plugin = model.layer1[0].toy_norm
    assert plugin.conv.weight.requires_grad and plugin.bn.training
    assert model.layer2[0].conv1.weight.requires_grad and model.layer2[0].bn1.training

    frozen_conv = model.layer1[0].conv1.weight.clone()
    frozen_mean = model.layer1[0].bn1.running_mean.clone()
    plugin_weight = plugin.conv.weight.clone()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.1)
    model(torch.rand(2, 3, 32, 32))[-1].mean().backward()
    optimizer.step()
    assert torch.equal(model.layer1[0].conv1.weight, frozen_conv)
    assert torch.equal(model.layer1[0].bn1.running_mean, frozen_mean)
    assert not torch.equal(plugin.conv.weight, plugin_weight)


def test_freeze_plugins_freezes_them_with_their_stage():
    model = PluginResNet(18, frozen_stages=1, plugins=[TOY_NORM], freeze_plugins=True)
    model.eval().train()
    plugin = model.layer1[0].toy_norm
    assert not plugin.conv.weight.requires_grad and not plugin.bn.training
    assert model.layer2[0].toy_norm.conv.weight.requires_grad
    assert model.layer2[0].toy_norm.bn.training


@pytest.mark.parametrize('freeze_plugins', [False, True])
def test_norm_eval_keeps_backbone_norms_in_eval_mode(freeze_plugins):
    model = PluginResNet(18, norm_eval=True, plugins=[TOY_NORM], freeze_plugins=freeze_plugins)
    model.train()
    assert model.training and model.layer4[1].training
    assert not model.bn1.training and not model.layer4[1].bn2.training
    assert not model.layer3[0].downsample[1].training
    assert model.layer3[0].toy_norm.bn.training is not freeze_plugins
    assert model.layer3[0].conv1.weight.requires_grad


def test_default_init_is_kaiming_then_the_plugins_own_init():
    model = PluginResNet(18, plugins=[TOY_NORM])
    for p in model.parameters():
        torch.nn.init.constant_(p, 0.5)
    model.init_weights()
    assert torch.equal(model.layer2[1].toy_norm.conv.weight,
                       torch.zeros_like(model.layer2[1].toy_norm.conv.weight))
    assert torch.equal(model.layer2[1].bn1.weight, torch.ones(128))
    # Kaiming normal, fan_out mode: std = sqrt(2 / (out_channels * 3 * 3)).
    std = model.layer4[0].conv2.weight.std().item()
    assert std == pytest.approx((2 / (512 * 9))**0.5, rel=0.05)
