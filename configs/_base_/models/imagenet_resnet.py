# Image classifier over an ImageNet ResNet (torchvision layout, stride on the
# 3x3 convolution), global average pooling and a linear head over the last
# stage. Experiments set the depth (and the head's input channels: 512 for
# ResNet-18/34, 2048 for the bottleneck ResNets).
model = dict(
    type='ImageClassifier',
    backbone=dict(type='PluginResNet', depth=50, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
