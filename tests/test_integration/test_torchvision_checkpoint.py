"""torchvision ResNet weights load into PluginResNet: every torchvision key
loads, plugin keys are reported missing, and the plain backbone reproduces
torchvision's features."""
import logging
import re

import pytest
import torch
import torchvision
from mmengine.logging import MMLogger

from autola_mm.models.backbones import PluginResNet

HOGA_AFTER_CONV2 = [dict(cfg=dict(type='HOGA'), position='after_conv2')]
PLUGIN_KEY = re.compile(r'^layer\d\.\d+\.hoga\.')


def random_torchvision_resnet(depth):
    """torchvision's ResNet with random weights and non-trivial BN statistics."""
    torch.manual_seed(depth)
    model = getattr(torchvision.models, f'resnet{depth}')(weights=None)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.1, 0.1)
    return model.eval()


def torchvision_stages(model, x):
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    outs = []
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = layer(x)
        outs.append(x)
    return outs


def without_fc(state_dict):
    return {k: v for k, v in state_dict.items() if not k.startswith('fc.')}


def plugin_keys(model):
    """Plugin entries a checkpoint must provide (BN's ``num_batches_tracked``
    is filled in by BN itself when absent, so it is never reported)."""
    return {
        k for k in model.state_dict()
        if PLUGIN_KEY.match(k) and not k.endswith('num_batches_tracked')
    }


@pytest.mark.parametrize('depth', [18, 50])
def test_plain_backbone_reproduces_torchvision_features(depth):
    reference = random_torchvision_resnet(depth)
    model = PluginResNet(depth)
    model.load_state_dict(without_fc(reference.state_dict()), strict=True)
    model.eval()
    x = torch.rand(2, 3, 64, 80)
    with torch.no_grad():
        outs, expected = model(x), torchvision_stages(reference, x)
    assert len(outs) == 4
    for out, ref in zip(outs, expected):
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('depth', [18, 50])
def test_plugin_weights_are_reported_missing(depth):
    state = without_fc(random_torchvision_resnet(depth).state_dict())
    model = PluginResNet(depth, plugins=HOGA_AFTER_CONV2)
    result = model.load_state_dict(state, strict=False)
    assert result.unexpected_keys == []
    expected_missing = plugin_keys(model)
    assert len(expected_missing) > 0 and set(result.missing_keys) == expected_missing
    assert {k for k in model.state_dict() if not PLUGIN_KEY.match(k)} == set(state)
    loaded = model.state_dict()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


class RecordWarnings(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_pretrained_init_cfg_loads_the_checkpoint_and_logs_plugin_keys(tmp_path):
    reference = random_torchvision_resnet(50)
    checkpoint = tmp_path / 'resnet50_torchvision.pth'
    torch.save(reference.state_dict(), checkpoint)
    model = PluginResNet(50, plugins=HOGA_AFTER_CONV2,
                         init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint)))
    logger = MMLogger.get_current_instance()
    handler = RecordWarnings()
    logger.addHandler(handler)
    try:
        model.init_weights()
    finally:
        logger.removeHandler(handler)
    loaded = model.state_dict()
    for key, value in without_fc(reference.state_dict()).items():
        assert torch.equal(loaded[key], value), key
    report = '\n'.join(handler.messages)
    assert 'unexpected key in source state_dict: fc.weight, fc.bias' in report
    missing = report.split('missing keys in source state_dict: ')[1].split('\n')[0].split(', ')
    assert set(missing) == plugin_keys(model)
