# ResNet-56 on CIFAR-10 + SE (Hu et al., 2018).
# Every basic block gets it after its second convolution and BN, before
# the residual add, where the AutoLA search puts HOGA; CBAM and HOGA
# take the same place. 4 GPUs x 64 images, 500 cosine epochs.
_base_ = './resnet56_4xb64-cos500e_cifar10.py'

model = dict(
    backbone=dict(plugins=[dict(cfg=dict(type='SE'), position='after_conv2')]))
