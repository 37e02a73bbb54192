# ResNet-56 on CIFAR-100 without attention, the baseline of the AutoLA
# supplement's CIFAR-100 comparison: base width 64 (stages of 64, 128, 256
# channels), 4 GPUs x 32 images, SGD with cosine decay over 500 epochs.
_base_ = [
    '../_base_/models/cifar_resnet.py',
    '../_base_/datasets/cifar100_bs32.py',
    '../_base_/schedules/cifar100_sgd-cos500e_bs128.py',
    '../_base_/runtime/classification.py',
]

model = dict(
    backbone=dict(depth=56, base_channels=64),
    head=dict(num_classes=100, in_channels=256))
