"""One training iteration and one validation pass through ``tools/train.py``.

For every task (classification, detection, keypoints) and every attention
type (none, SE, CBAM, HOGA), a real config from ``configs/`` trains on tiny
data: synthetic CIFAR files and a tiny ImageNet written here, the 4 COCO
images of ``../shared/data/coco_sample`` for detection and keypoints.
Only data paths, batch sizes, pretrained weights (none are downloaded) and
input sizes (Faster R-CNN's scale, ImageNet's crops) are overridden; detection
reads a copy of the sample's annotations that lists all 80 COCO classes.
"""
import math

import pytest
import torch
from mmengine.registry import MODELS
from tool_loading import load_tool
from tools_testkit import (CONFIG_ROOT, cifar_body, coco_with_all_classes, derived_config,
                           write_cifar10, write_imagenet)

ATTENTION = {'plain': None, 'se': 'SE', 'cbam': 'CBAM', 'hoga': 'HOGA'}

CLASSIFICATION = {
    'plain': 'autola_cifar/resnet20_4xb64-cos500e_cifar10.py',
    'se': 'autola_cifar/resnet20-se_4xb64-cos500e_cifar10.py',
    'cbam': 'autola_cifar/resnet20-cbam_4xb64-cos500e_cifar10.py',
    'hoga': 'autola_cifar/resnet20-hoga_4xb64-cos500e_cifar10.py',
}
IMAGENET = {
    'plain': 'autola_imagenet/resnet18_8xb32-step100e_in1k.py',
    'hoga': 'autola_imagenet/resnet50-hoga_8xb32-step100e_in1k.py',
}
DETECTION = {
    'plain': 'ssd/ssd300_r50_8xb16-65e_coco.py',
    'se': 'faster_rcnn/faster-rcnn_r50-se_fpn_4xb2-14e_coco.py',
    'cbam': 'ssd/ssd300_r50-cbam_8xb16-65e_coco.py',
    'hoga': 'faster_rcnn_r50_fpn_hoga_1x.py',
}
KEYPOINTS = {
    attention: f'simplebaseline/simplebaseline_r50{"" if attention == "plain" else "-" + attention}'
    '_4xb32-140e_coco-256x192.py'
    for attention in ATTENTION
}

COCO_BODY = '''
images = {images!r}
annotations = {annotations!r}
model = dict(backbone=dict(init_cfg=None){model_extra})
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root='', ann_file=annotations, data_prefix=dict(img=images),
                 indices=2{train_pipeline}))
val_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root='', ann_file=annotations, data_prefix=dict(img=images),
                 indices=4{val_extra}))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=annotations)
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
'''
# Faster R-CNN at 320 pixels instead of 1333x800, to keep the test fast.
SMALL_SCALE = (',\n                 pipeline=[dict(t, scale=(320, 320)) if t.type == "Resize" '
               'else t for t in _base_.{loader}.dataset.pipeline]')


@pytest.fixture(scope='module')
def train_tool():
    return load_tool('train')


def train_once(train_tool, config, work_dir, *options):
    """Run tools/train.py; check one iteration, a finite loss and a checkpoint."""
    runner = train_tool.main([str(config), '--work-dir', str(work_dir), *options])
    assert (runner.epoch, runner.iter) == (1, 1)
    assert math.isfinite(runner.message_hub.get_scalar('train/loss').current())
    assert (work_dir / 'epoch_1.pth').is_file()
    return runner


def check_attention(runner, attention):
    """The trained model's blocks hold the config's attention type, and only it."""
    plugins = list(runner.model.backbone.plugin_layers())
    if ATTENTION[attention] is None:
        assert plugins == []
    else:
        assert plugins and all(type(p) is MODELS.get(ATTENTION[attention]) for p in plugins)


@pytest.mark.parametrize('attention', sorted(CLASSIFICATION))
def test_cifar10(train_tool, tmp_path, attention):
    root = write_cifar10(tmp_path / 'cifar10', num_train=8, num_test=4)
    config = derived_config(tmp_path, 'cifar', CONFIG_ROOT / CLASSIFICATION[attention],
                            cifar_body(root, train_images=2, batch_size=2, max_epochs=1))
    runner = train_once(train_tool, config, tmp_path / 'work')
    check_attention(runner, attention)
    top1 = runner.message_hub.get_scalar('val/accuracy/top1').current()
    assert 0 <= top1 <= 100 and top1 % 25 == 0  # 4 test images


@pytest.mark.parametrize('attention', sorted(IMAGENET))
def test_imagenet(train_tool, tmp_path, attention):
    root = write_imagenet(tmp_path / 'imagenet')
    # 64-pixel crops instead of 224 keep the bottleneck ResNets fast.
    body = f'''
train_dataloader = dict(
    batch_size=2, num_workers=0,
    dataset=dict(data_root={str(root)!r}, indices=2, pipeline=[
        dict(t, scale=64) if t.type == 'RandomResizedCrop' else t
        for t in _base_.train_pipeline]))
val_dataloader = dict(
    batch_size=2, num_workers=0,
    dataset=dict(data_root={str(root)!r}, pipeline=[
        dict(t, scale=73) if t.type == 'ResizeEdge' else
        dict(t, crop_size=64) if t.type == 'CenterCrop' else t
        for t in _base_.test_pipeline]))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
'''
    config = derived_config(tmp_path, 'imagenet', CONFIG_ROOT / IMAGENET[attention], body)
    runner = train_once(train_tool, config, tmp_path / 'work')
    check_attention(runner, attention)
    assert runner.val_dataloader.dataset.get_gt_labels().tolist() == [0, 0, 7, 7]
    top5 = runner.message_hub.get_scalar('val/accuracy/top5').current()
    assert 0 <= top5 <= 100 and top5 % 25 == 0


def detection_config(tmp_path, coco_sample_dir, attention):
    """The detection config of ``attention`` on the COCO sample, at a small scale."""
    faster = 'faster' in DETECTION[attention]
    body = COCO_BODY.format(
        # Untrained detectors score below the configs' thresholds: keep every
        # box, so that the metric has predictions to evaluate.
        model_extra=(', test_cfg=dict(rcnn=dict(score_thr=0))' if faster else
                     ', test_cfg=dict(score_thr=0)'),
        images=f'{coco_sample_dir}/',
        annotations=str(coco_with_all_classes(coco_sample_dir, tmp_path)),
        train_pipeline=SMALL_SCALE.format(loader='train_dataloader') if faster else '',
        val_extra=SMALL_SCALE.format(loader='val_dataloader') if faster else '')
    return derived_config(tmp_path, 'detection', CONFIG_ROOT / DETECTION[attention], body)


@pytest.mark.parametrize('attention', sorted(DETECTION))
def test_detection(train_tool, tmp_path, coco_sample_dir, attention):
    config = detection_config(tmp_path, coco_sample_dir, attention)
    runner = train_once(train_tool, config, tmp_path / 'work')
    check_attention(runner, attention)
    # With every box kept (score_thr=0), CocoMetric always has results to score.
    assert 0 <= runner.message_hub.get_scalar('val/coco/bbox_mAP').current() <= 1


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason='no CUDA device here: --amp trains on a GPU (make test-gpu)')
def test_detection_hoga_amp_on_cuda(train_tool, tmp_path, coco_sample_dir):
    """configs/faster_rcnn_r50_fpn_hoga_1x.py, one mixed-precision iteration on the GPU."""
    config = detection_config(tmp_path, coco_sample_dir, 'hoga')
    runner = train_once(train_tool, config, tmp_path / 'work', '--amp')
    check_attention(runner, 'hoga')
    assert next(runner.model.parameters()).is_cuda


@pytest.mark.parametrize('attention', sorted(KEYPOINTS))
def test_keypoints(train_tool, tmp_path, coco_sample_dir, attention):
    body = COCO_BODY.format(model_extra='', images=f'{coco_sample_dir}/',
                            annotations=str(coco_sample_dir / 'test_coco.json'),
                            train_pipeline='', val_extra=', bbox_file=None')
    config = derived_config(tmp_path, 'keypoints', CONFIG_ROOT / KEYPOINTS[attention], body)
    runner = train_once(train_tool, config, tmp_path / 'work')
    check_attention(runner, attention)
    heatmaps = runner.model.head(runner.model.backbone(torch.zeros(1, 3, 256, 192)))
    assert heatmaps.shape == (1, 17, 64, 48)
    assert 0 <= runner.message_hub.get_scalar('val/coco/AP').current() <= 1
