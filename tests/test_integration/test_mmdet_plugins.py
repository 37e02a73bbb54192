"""mmdet's own Faster R-CNN R50-FPN config with SE, CBAM and HOGA plugins trains
one step on a COCO image through mmdet's CocoDataset and pipeline."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

ATTENTIONS = ('SE', 'CBAM', 'HOGA')
FASTER_RCNN = 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'


@pytest.fixture(scope='module')
def det_registry():
    init_default_scope('mmdet')
    from mmdet.registry import DATASETS, MODELS
    return DATASETS, MODELS


@pytest.fixture(scope='module')
def faster_rcnn(mm_config_path):
    cfg = Config.fromfile(mm_config_path('mmdet', FASTER_RCNN))
    cfg.model.backbone.init_cfg = None  # no torchvision download
    # Without the checkpoint, mmdet's default zero_init_residual=True zeroes
    # every bn3 and with it the gradient of everything inside the residual
    # branches, the plugins included; a checkpoint's bn3 is not zero.
    cfg.model.backbone.zero_init_residual = False
    return cfg.model


@pytest.fixture(scope='module')
def det_batch(coco_sample_dir, det_registry):
    """Image 785 (one person), resized to fit 480 x 320."""
    datasets, _ = det_registry
    dataset = datasets.build(
        dict(type='CocoDataset', data_root=str(coco_sample_dir), ann_file='test_coco.json',
             data_prefix=dict(img=''),
             pipeline=[
                 dict(type='LoadImageFromFile'),
                 dict(type='LoadAnnotations', with_bbox=True),
                 dict(type='Resize', scale=(480, 320), keep_ratio=True),
                 dict(type='PackDetInputs')
             ]))
    item = dataset[0]
    # 640 x 425 scaled by min(480 / 640, 320 / 425) = 0.75.
    assert item['inputs'].shape == (3, 319, 480)
    instances = item['data_samples'].gt_instances
    assert instances.labels.tolist() == [0]  # person
    expected_box = torch.tensor([280.79, 44.73, 280.79 + 218.7, 44.73 + 346.68]) * 0.75
    torch.testing.assert_close(instances.bboxes.tensor[0], expected_box, atol=0.5, rtol=0)
    return pseudo_collate([item])


def train_faster_rcnn(model_cfg, det_registry, batch, train_step):
    torch.manual_seed(0)
    model = det_registry[1].build(model_cfg)
    model.init_weights()
    model.train()
    loss = train_step(model, copy.deepcopy(batch))
    assert torch.isfinite(loss) and loss > 0
    return model


@pytest.mark.parametrize('attention', ATTENTIONS)
def test_faster_rcnn_with_mmdet_resnet_and_attention_plugins(attention, faster_rcnn, det_registry,
                                                             det_batch, train_step,
                                                             check_plugin_gradients):
    model_cfg = copy.deepcopy(faster_rcnn)
    model_cfg.backbone.plugins = [
        dict(cfg=dict(type=attention), position='after_conv2', stages=(False, True, True, True))
    ]
    model = train_faster_rcnn(model_cfg, det_registry, det_batch, train_step)
    assert type(model.backbone).__name__ == 'ResNet'  # mmdet's own
    check_plugin_gradients(model.backbone, attention, count=4 + 6 + 3)


def test_faster_rcnn_with_plugin_resnet_trains_plugins_of_frozen_stage(
        faster_rcnn, det_registry, det_batch, train_step, check_plugin_gradients):
    model_cfg = copy.deepcopy(faster_rcnn)
    model_cfg.backbone = dict(
        type='PluginResNet', depth=50, frozen_stages=1, norm_eval=True,
        plugins=[dict(cfg=dict(type='HOGA'), position='after_conv2',
                      stages=(True, False, False, False))])
    model = train_faster_rcnn(model_cfg, det_registry, det_batch, train_step)
    check_plugin_gradients(model.backbone, 'HOGA', count=3)
    frozen_block = model.backbone.layer1[0]
    assert frozen_block.conv1.weight.grad is None and not frozen_block.bn1.training
    assert all(m.training for m in frozen_block.hoga.modules())
