"""Tiny classifiers and a synthetic CIFAR-format dataset for the analysis tools.

Two models on 32x32 images, written as a config plus a checkpoint each:
``plain`` (mmpretrain's ``ResNet_CIFAR``, 3 stages) and ``hoga`` (our
``PluginCifarResNet`` of depth 8 with HOGA after every block's second BN).
The data are 40 random images, 4 per class, in the cifar-10-batches-py layout
read by ``LocalCIFAR10`` (mmpretrain's ``CIFAR10`` insists on the official md5
sums).
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmpretrain.datasets.categories import CIFAR10_CATEGORIES

NUM_TEST_IMAGES = 40

_DATA = """
default_scope = 'mmpretrain'
custom_imports = dict(imports=['autola_mm'], allow_failed_imports=False)
data_preprocessor = dict(num_classes=10, mean=[125.3, 123.0, 113.9],
                         std=[63.0, 62.1, 66.7], to_rgb=False)
test_dataloader = dict(
    batch_size=8, num_workers=0,
    dataset=dict(type='LocalCIFAR10', data_root={data_root!r}, split='test',
                 pipeline=[dict(type='PackInputs')]),
    sampler=dict(type='DefaultSampler', shuffle=False))
"""

_BACKBONES = dict(
    plain="""dict(type='ResNet_CIFAR', depth=18, num_stages=3, stem_channels=16,
             base_channels=16, strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2, ),
             zero_init_residual=False)""",
    hoga="""dict(type='PluginCifarResNet', depth=8, base_channels=16,
             plugins=[dict(cfg=dict(type='HOGA'), position='after_conv2')])""")

_MODEL = """
model = dict(
    type='ImageClassifier',
    backbone={backbone},
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64,
              loss=dict(type='CrossEntropyLoss')))
"""


@pytest.fixture(scope='session')
def cifar_root(tmp_path_factory) -> Path:
    """A synthetic CIFAR-10 folder: 40 test images (4 per class), 10 train."""
    from autola_mm.datasets import write_cifar_files
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp('cifar')
    test_labels = [index % 10 for index in range(NUM_TEST_IMAGES)]
    images = rng.integers(0, 256, (NUM_TEST_IMAGES, 32, 32, 3), dtype=np.uint8)
    # Brighter images for higher classes, so the classes differ in their statistics.
    images = (images // 2 + np.array(test_labels, dtype=np.uint8)[:, None, None, None] * 12)
    write_cifar_files(str(root), (images[:10], list(range(10))), (images, test_labels),
                      CIFAR10_CATEGORIES)
    return root


def _write_model(folder: Path, name: str, data_root: Path) -> tuple:
    from autola_mm.analysis import build_model, load_config
    config = folder / f'{name}.py'
    config.write_text(_DATA.format(data_root=str(data_root)) +
                      _MODEL.format(backbone=_BACKBONES[name]))
    torch.manual_seed(0)
    model = build_model(load_config(str(config)))
    model.init_weights()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    checkpoint = folder / f'{name}.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=CIFAR10_CATEGORIES))), checkpoint)
    return str(config), str(checkpoint)


@pytest.fixture(scope='session')
def tiny_models(tmp_path_factory, cifar_root) -> dict:
    """``{'plain': (config, checkpoint), 'hoga': (config, checkpoint)}``."""
    folder = tmp_path_factory.mktemp('models')
    return {name: _write_model(folder, name, cifar_root) for name in _BACKBONES}
