# ResNet-18 on ImageNet + CBAM (Woo et al., 2018).
# Every basic block gets it after its second convolution and BN, before
# the residual add, where the AutoLA search puts HOGA; SE and HOGA
# take the same place. 8 GPUs x 32 images, 100 epochs.
_base_ = './resnet18_8xb32-step100e_in1k.py'

model = dict(
    backbone=dict(plugins=[dict(cfg=dict(type='CBAM'), position='after_conv2')]))
