# ResNet-56 on CIFAR-10 without attention, the baseline of the AutoLA
# supplement's CIFAR-10 comparison: base width 16, 4 GPUs x 64 images, SGD
# with cosine decay over 500 epochs.
_base_ = [
    '../_base_/models/cifar_resnet.py',
    '../_base_/datasets/cifar10_bs64.py',
    '../_base_/schedules/cifar10_sgd-cos500e_bs256.py',
    '../_base_/runtime/classification.py',
]

model = dict(backbone=dict(depth=56, base_channels=16))
