# ResNet-34 on ImageNet + HOGA (the searched, published genotype).
# Every basic block gets it after its second convolution and BN, before
# the residual add, where the AutoLA search puts HOGA; SE and CBAM
# take the same place. 8 GPUs x 32 images, 100 epochs.
_base_ = './resnet34_8xb32-step100e_in1k.py'

model = dict(
    backbone=dict(plugins=[dict(cfg=dict(type='HOGA'), position='after_conv2')]))
