# `make demo`: ResNet-20 + SE after the second BN of every basic block.
_base_ = './resnet20_digits.py'

model = dict(backbone=dict(plugins=[dict(cfg=dict(type='SE'), position='after_conv2')]))
