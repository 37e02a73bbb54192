"""The OpenMMLab stack that `make setup` installs imports and runs on the CPU."""
import importlib

import pytest
import torch


@pytest.mark.parametrize('module', [
    'mmdet.models', 'mmpose.models', 'mmpretrain.models', 'mmdet.evaluation',
    'mmpose.evaluation'
])
def test_mm_libraries_import(module):
    importlib.import_module(module)


def test_mmcv_nms_runs_on_cpu():
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    # Box 1 overlaps box 0 with IoU 81/100 and is suppressed; box 2 is apart.
    assert keep.tolist() == [0, 2]
    assert torch.allclose(dets[:, 4], torch.tensor([0.9, 0.7]))


def test_mmcv_roi_align_runs_on_cpu():
    from mmcv.ops import RoIAlign
    feature = torch.arange(16.).reshape(1, 1, 4, 4)
    # One RoI from (0, 0) to (3, 3), pooled to 1x1 with one sample at its
    # centre (1.5, 1.5): the bilinear average of pixels 5, 6, 9 and 10
    # (aligned=False takes the coordinates as given).
    rois = torch.tensor([[0., 0., 0., 3., 3.]])
    pooled = RoIAlign((1, 1), spatial_scale=1.0, sampling_ratio=1,
                      aligned=False)(feature, rois)
    assert pooled.shape == (1, 1, 1, 1)
    assert pooled.item() == pytest.approx((5 + 6 + 9 + 10) / 4)
