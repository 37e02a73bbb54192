# CIFAR-100 as MMPretrain reads it (data/cifar100/cifar-100-python, see
# docs/data.md) with pad-4 random crops and flips. 32 images per GPU: the
# supplement's batch of 128 is 4 GPUs x 32. Nothing is ever downloaded.
_base_ = 'mmpretrain::_base_/datasets/cifar100_bs16.py'

train_dataloader = dict(batch_size=32, dataset=dict(download=False))
val_dataloader = dict(batch_size=32, dataset=dict(download=False))
test_dataloader = dict(batch_size=32, dataset=dict(download=False))
