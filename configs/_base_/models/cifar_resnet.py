# Image classifier over a CIFAR ResNet (He et al., 2016, section 4.2): a 3x3
# stem, three stages of basic blocks of widths b, 2b, 4b, global average
# pooling and a linear head. Experiments set depth, base width and classes.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='PluginCifarResNet', depth=20, base_channels=16),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
