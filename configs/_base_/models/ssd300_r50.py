# SSD300 (Liu et al., 2016) over ResNet-50 instead of VGG-16, modified as the
# AutoLA supplement says: conv5_x, pooling and fc removed (3 stages) and
# conv4_x at stride 1, so its 1024-channel map is 38x38 for a 300x300 input.
# Five extra levels (19, 10, 5, 3 and 1 pixels; 1x1 then 3x3 convolutions)
# complete the six levels of SSD300, and BatchNorm follows every convolution
# the detector adds: the extra levels' and any stacked head convolution's
# (the per-level class and box predictors are single linear convolutions).
# The experiments import autola_mm.compat.mmdet_ssd_head for the head.
model = dict(
    type='SingleStageDetector',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1),
    backbone=dict(
        type='PluginResNet',
        depth=50,
        num_stages=3,
        strides=(1, 2, 1),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(
        type='SSDNeck',
        in_channels=(1024, ),
        out_channels=(1024, 512, 512, 256, 256, 256),
        level_strides=(2, 2, 2, 1, 1),
        level_paddings=(1, 1, 1, 0, 0),
        l2_norm_scale=None,
        norm_cfg=dict(type='BN')),
    bbox_head=dict(
        type='SSDHeadWithPredict',  # SSDHead that predicts under mmdet 3.3.0
        in_channels=(1024, 512, 512, 256, 256, 256),
        num_classes=80,
        norm_cfg=dict(type='BN'),
        anchor_generator=dict(
            type='SSDAnchorGenerator',
            scale_major=False,
            input_size=300,
            basesize_ratio_range=(0.15, 0.9),
            strides=[8, 16, 32, 64, 100, 300],
            ratios=[[2], [2, 3], [2, 3], [2, 3], [2], [2]]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[0.0, 0.0, 0.0, 0.0],
            target_stds=[0.1, 0.1, 0.2, 0.2])),
    train_cfg=dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=0.5,
            neg_iou_thr=0.5,
            min_pos_iou=0.0,
            ignore_iof_thr=-1,
            gt_max_assign_all=False),
        sampler=dict(type='PseudoSampler'),
        smoothl1_beta=1.0,
        allowed_border=-1,
        pos_weight=-1,
        neg_pos_ratio=3,
        debug=False),
    test_cfg=dict(
        nms_pre=1000,
        nms=dict(type='nms', iou_threshold=0.45),
        min_bbox_size=0,
        score_thr=0.02,
        max_per_img=200))
