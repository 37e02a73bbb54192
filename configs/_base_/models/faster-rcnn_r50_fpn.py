# Faster R-CNN + FPN exactly as MMDetection defines it (the supplement keeps
# all of its parameters), with ResNet-50 built by PluginResNet: the same
# layers and parameter names as torchvision, plus attention plugins. As in
# MMDetection, the stem and conv2_x are frozen and BN statistics are fixed.
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='PluginResNet',
        depth=50,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')))
