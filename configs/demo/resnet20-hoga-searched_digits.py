# `make demo`: ResNet-20 + the HOGA that configs/demo/autola_resnet20_digits.py
# searched on the digits themselves (its genotype.json), in the same places.
_base_ = './resnet20-hoga_digits.py'

genotype = 'work_dirs/demo/search/genotype.json'
model = dict(backbone=dict(plugins=[dict(cfg=dict(type='HOGA', genotype=genotype),
                                         position='after_conv2')]))
