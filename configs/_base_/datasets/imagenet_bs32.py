# ImageNet-1k as MMPretrain reads it (data/imagenet/{train,val}, see
# docs/data.md) with the standard augmentation of the ResNet papers: random
# resized 224x224 crops and flips; tests on the 224 centre of a 256 resize.
# 32 images per GPU: the batch of 256 that lr 0.1 goes with is 8 GPUs x 32.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs32.py'
