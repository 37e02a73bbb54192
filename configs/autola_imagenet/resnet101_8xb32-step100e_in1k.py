# ResNet-101 on ImageNet without attention, the baseline of the AutoLA paper's
# ImageNet table: 224x224 crops, 8 GPUs x 32 images, lr 0.1 divided by 10
# every 30 epochs, 100 epochs.
_base_ = [
    '../_base_/models/imagenet_resnet.py',
    '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_sgd-step100e_bs256.py',
    '../_base_/runtime/classification.py',
]

model = dict(backbone=dict(depth=101), head=dict(in_channels=2048))
