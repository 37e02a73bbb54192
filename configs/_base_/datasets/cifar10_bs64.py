# CIFAR-10 as MMPretrain reads it (data/cifar10/cifar-10-batches-py, see
# docs/data.md) with pad-4 random crops and flips. 64 images per GPU: the
# supplement's batch of 256 is 4 GPUs x 64. Nothing is ever downloaded.
_base_ = 'mmpretrain::_base_/datasets/cifar10_bs16.py'

train_dataloader = dict(batch_size=64, dataset=dict(download=False))
val_dataloader = dict(batch_size=64, dataset=dict(download=False))
test_dataloader = dict(batch_size=64, dataset=dict(download=False))
