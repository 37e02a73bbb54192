"""A pretrained checkpoint that cannot be downloaded: one message, and its advice works.

No test touches the network: ``torch.hub``'s download raises the ``URLError``
of a machine without one, and ``TORCH_HOME`` is a fresh folder, so the hub
cache is empty.
"""
from urllib.error import URLError

import pytest
import torch
from tool_loading import load_tool
from tools_testkit import CONFIG_ROOT, cifar_body, derived_config, write_cifar10

from autola_mm.models.backbones import PluginResNet
from autola_mm.utils import PretrainedDownloadError, pretrained_init_cfg_keys

CIFAR_HOGA = CONFIG_ROOT / 'autola_cifar/resnet20-hoga_4xb64-cos500e_cifar10.py'
OFFLINE = '[Errno -3] Temporary failure in name resolution'


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No network and an empty hub cache; returns ``TORCH_HOME``."""

    def no_network(url, *args, **kwargs):
        raise URLError(OFFLINE)

    monkeypatch.setattr(torch.hub, 'download_url_to_file', no_network)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    return tmp_path / 'torch_home'


def pretrained_resnet18(checkpoint):
    return PluginResNet(18, init_cfg=dict(type='Pretrained', checkpoint=checkpoint))


@pytest.mark.parametrize('checkpoint,url', [
    ('torchvision://resnet18', 'https://download.pytorch.org/models/resnet18-f37072fd.pth'),
    ('open-mmlab://resnet50_v1c',
     'https://download.openmmlab.com/pretrain/third_party/resnet50_v1c-2cccc1ad.pth'),
])
def test_the_message_names_the_file_for_the_hub_cache(offline, checkpoint, url):
    with pytest.raises(PretrainedDownloadError) as info:
        pretrained_resnet18(checkpoint).init_weights()
    cache_file = offline / 'hub' / 'checkpoints' / url.rsplit('/', 1)[1]
    assert str(info.value) == (
        f'pretrained checkpoint {checkpoint} cannot be downloaded from {url} (URLError: '
        f'{OFFLINE}). Without network, copy that file to {cache_file} (the torch hub cache, '
        '$TORCH_HOME/hub/checkpoints) and run again; or train from scratch: set the init_cfg '
        'that names it to None, e.g. --cfg-options model.backbone.init_cfg=None')


def test_a_file_placed_where_the_message_says_is_loaded(offline):
    weights = PluginResNet(18).state_dict()
    cache_file = offline / 'hub' / 'checkpoints' / 'resnet18-f37072fd.pth'
    cache_file.parent.mkdir(parents=True)
    torch.save(weights, cache_file)
    model = pretrained_resnet18('torchvision://resnet18')
    model.init_weights()
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key


def test_init_cfg_keys_of_a_config():
    model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='torchvision://a')),
                 neck=dict(init_cfg=[dict(type='Xavier'),
                                     dict(type='Pretrained', checkpoint='torchvision://a')]),
                 plugins=[dict(init_cfg=dict(type='Pretrained', checkpoint='torchvision://a'))],
                 head=dict(init_cfg=dict(type='Pretrained', checkpoint='torchvision://b')))
    assert pretrained_init_cfg_keys(model, 'torchvision://a') == [
        'model.backbone.init_cfg', 'model.neck.init_cfg', 'model.plugins.0.init_cfg']


def test_train_tool_names_the_cfg_option_that_trains_from_scratch(offline, tmp_path):
    root = write_cifar10(tmp_path / 'cifar10', num_train=4, num_test=4)
    body = cifar_body(root, train_images=4, batch_size=2, max_epochs=1)
    body += ("model = dict(backbone=dict(init_cfg=dict(type='Pretrained', "
             "checkpoint='torchvision://resnet18')))\n")
    config = derived_config(tmp_path, 'pretrained', CIFAR_HOGA, body)
    with pytest.raises(SystemExit) as info:
        load_tool('train').main([str(config), '--work-dir', str(tmp_path / 'work')])
    message = str(info.value.code)
    assert message.startswith('error: pretrained checkpoint torchvision://resnet18 cannot be '
                              'downloaded from ')
    assert f'copy that file to {offline}/hub/checkpoints/resnet18-f37072fd.pth ' in message
    assert message.endswith('or train from scratch: --cfg-options model.backbone.init_cfg=None')
