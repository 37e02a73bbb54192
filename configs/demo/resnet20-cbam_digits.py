# `make demo`: ResNet-20 + CBAM after the second BN of every basic block.
_base_ = './resnet20_digits.py'

model = dict(backbone=dict(plugins=[dict(cfg=dict(type='CBAM'), position='after_conv2')]))
