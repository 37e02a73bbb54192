# ResNet-20 (base width 64) on CIFAR-100 + SE (Hu et al., 2018).
# Every basic block gets it after its second convolution and BN, before
# the residual add, where the AutoLA search puts HOGA; CBAM and HOGA
# take the same place. 4 GPUs x 32 images, 500 cosine epochs.
_base_ = './resnet20-w64_4xb32-cos500e_cifar100.py'

model = dict(
    backbone=dict(plugins=[dict(cfg=dict(type='SE'), position='after_conv2')]))
