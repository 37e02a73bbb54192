"""mmpretrain's ImageClassifier (its own ResNet model configs, GAP neck and
linear head) with PluginCifarResNet and PluginResNet and SE, CBAM and HOGA
plugins trains one step on two COCO images through mmpretrain's pipeline."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

ATTENTIONS = ('SE', 'CBAM', 'HOGA')


@pytest.fixture(scope='module')
def cls_models():
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    return MODELS


def load_images(coco_sample_dir, size):
    """Two COCO images, resized to ``size`` x ``size``, labelled 0 and 1."""
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(size, size)),
        dict(type='PackInputs')
    ])
    names = ('000000000785.jpg', '000000197388.jpg')
    items = [pipeline(dict(img_path=str(coco_sample_dir / name), gt_label=label))
             for label, name in enumerate(names)]
    assert [tuple(item['inputs'].shape) for item in items] == [(3, size, size)] * 2
    return pseudo_collate(items)


@pytest.fixture(scope='module')
def cifar_batch(coco_sample_dir, cls_models):
    return load_images(coco_sample_dir, 32)


@pytest.fixture(scope='module')
def imagenet_batch(coco_sample_dir, cls_models):
    return load_images(coco_sample_dir, 64)


def train_classifier(model_cfg, models, batch, train_step):
    torch.manual_seed(0)
    model = models.build(model_cfg)
    model.init_weights()
    model.train()
    loss = train_step(model, copy.deepcopy(batch))
    assert torch.isfinite(loss) and loss > 0
    return model


@pytest.mark.parametrize('attention', ATTENTIONS)
def test_cifar_classifier_trains_with_plugins(attention, mm_config_path, cls_models, cifar_batch,
                                              train_step, check_plugin_gradients):
    model_cfg = Config.fromfile(mm_config_path('mmpretrain',
                                               '_base_/models/resnet18_cifar.py')).model
    model_cfg.backbone = dict(type='PluginCifarResNet', depth=20, plugins=[
        dict(cfg=dict(type=attention), position='after_conv2')])
    model_cfg.head.in_channels = 64
    model = train_classifier(model_cfg, cls_models, cifar_batch, train_step)
    assert type(model.neck).__name__ == 'GlobalAveragePooling'
    check_plugin_gradients(model.backbone, attention, count=9)


@pytest.mark.parametrize('attention', ATTENTIONS)
def test_imagenet_classifier_trains_with_plugins(attention, mm_config_path, cls_models,
                                                 imagenet_batch, train_step,
                                                 check_plugin_gradients):
    model_cfg = Config.fromfile(mm_config_path('mmpretrain', '_base_/models/resnet18.py')).model
    model_cfg.backbone = dict(type='PluginResNet', depth=18, out_indices=(3, ), plugins=[
        dict(cfg=dict(type=attention), position='after_conv2')])
    model = train_classifier(model_cfg, cls_models, imagenet_batch, train_step)
    assert model.head.fc.in_features == 512
    check_plugin_gradients(model.backbone, attention, count=8)


def test_mmpretrain_resnet50_classifier_trains_as_shipped(mm_config_path, cls_models,
                                                          imagenet_batch, train_step):
    """mmpretrain's own ResNet-50 classifier, no plugin: the stack itself works."""
    model_cfg = Config.fromfile(mm_config_path('mmpretrain', '_base_/models/resnet50.py')).model
    model = train_classifier(model_cfg, cls_models, imagenet_batch, train_step)
    assert type(model.backbone).__module__.startswith('mmpretrain')
    assert model.head.fc.in_features == 2048
    # zero_init_residual silences the last BN of every block at first; the
    # stem and the head still get gradients.
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert model.head.fc.weight.grad.abs().sum() > 0
