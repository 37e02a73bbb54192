# `make demo`: ResNet-20 + HOGA with the published (searched on CIFAR-10)
# genotype after the second BN of every basic block.
_base_ = './resnet20_digits.py'

model = dict(backbone=dict(plugins=[dict(cfg=dict(type='HOGA'), position='after_conv2')]))
