"""An mmpose top-down heatmap model (mmpose's SimpleBaseline ResNet-50 config
with PluginResNet-50) trains one step with SE, CBAM and HOGA plugins on a COCO
person's keypoints through mmpose's CocoDataset and pipeline."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

SIMPLE_BASELINE = 'body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py'
CODEC = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=2)


@pytest.fixture(scope='module')
def pose_registry():
    init_default_scope('mmpose')
    from mmpose.registry import DATASETS, MODELS
    return DATASETS, MODELS


@pytest.fixture(scope='module')
def pose_model_cfg(mm_config_path):
    model = Config.fromfile(mm_config_path('mmpose', SIMPLE_BASELINE)).model
    model.head.decoder = CODEC
    return model


@pytest.fixture(scope='module')
def pose_batch(coco_sample_dir, pose_registry, mm_config_path):
    """The person of image 785 (17 labelled keypoints), cropped to 96 x 128."""
    keypoint_info = mm_config_path('mmpose', '_base_/datasets/coco.py')
    dataset = pose_registry[0].build(
        dict(type='CocoDataset', data_root=str(coco_sample_dir), data_mode='topdown',
             ann_file='test_coco.json', data_prefix=dict(img=''),
             metainfo=dict(from_file=str(keypoint_info)),
             pipeline=[
                 dict(type='LoadImage'),
                 dict(type='GetBBoxCenterScale'),
                 dict(type='TopdownAffine', input_size=CODEC['input_size']),
                 dict(type='GenerateTarget', encoder=CODEC),
                 dict(type='PackPoseInputs')
             ]))
    assert len(dataset) == 12  # the 14 people minus the 2 without keypoints
    item = dataset[0]
    assert item['inputs'].shape == (3, 128, 96)
    sample = item['data_samples']
    assert sample.gt_fields.heatmaps.shape == (17, 32, 24)
    assert sample.gt_instance_labels.keypoint_weights.sum() == 17
    return pseudo_collate([item])


@pytest.mark.parametrize('attention', ['SE', 'CBAM', 'HOGA'])
def test_topdown_heatmap_model_trains_with_plugins(attention, pose_model_cfg, pose_registry,
                                                   pose_batch, train_step,
                                                   check_plugin_gradients):
    model_cfg = copy.deepcopy(pose_model_cfg)
    model_cfg.backbone = dict(
        type='PluginResNet', depth=50, out_indices=(3, ),
        plugins=[dict(cfg=dict(type=attention), position='after_conv2',
                      stages=(False, True, True, True))])
    torch.manual_seed(0)
    model = pose_registry[1].build(model_cfg)
    model.init_weights()
    model.train()
    loss = train_step(model, copy.deepcopy(pose_batch))
    assert torch.isfinite(loss) and loss > 0
    check_plugin_gradients(model.backbone, attention, count=4 + 6 + 3)
