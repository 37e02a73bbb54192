# Faster R-CNN + FPN with ResNet-50 on COCO 2017 without attention, MMDetection's
# model and data pipeline (1333x800) as the AutoLA supplement says, on its
# schedule: 4 GPUs x 2 images, 14 epochs.
_base_ = [
    '../_base_/models/faster-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    '../_base_/schedules/faster-rcnn_sgd-14e_bs8.py',
    '../_base_/runtime/detection.py',
]
