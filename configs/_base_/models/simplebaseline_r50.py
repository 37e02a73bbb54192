# SimpleBaseline (Xiao et al., 2018) top-down pose estimator: ResNet-50 and
# three stride-2 deconvolutions to 17 keypoint heatmaps, trained with a
# visibility-weighted MSE; flip test averages the heatmaps of the mirrored
# crop. The experiment sets the head's decoder to the dataset's codec.
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='PluginResNet',
        depth=50,
        out_indices=(3, ),
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    head=dict(
        type='HeatmapHead',
        in_channels=2048,
        out_channels=17,
        loss=dict(type='KeypointMSELoss', use_target_weight=True)),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))
