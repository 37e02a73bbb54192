# Search a HOGA on CIFAR-10 with a ResNet-20 supernet (AutoLA, NeurIPS 2020):
# a mixed HOGA after the second BN of every basic block, one alpha shared by all.
_base_ = [
    './_base_/cifar10_search_data.py', './_base_/search_schedule.py',
    './_base_/search_runtime.py'
]

model = dict(
    type='HOGASearchClassifier',
    backbone=dict(
        type='PluginCifarResNet',
        depth=20,
        base_channels=16,
        plugins=[dict(cfg=dict(type='SearchHOGA'), position='after_conv2')]),
    num_classes=10,
    unrolled=False,
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[125.307, 122.961, 113.8575],
        std=[51.5865, 50.847, 51.255]))
