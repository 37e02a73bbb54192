# ResNet-101 on ImageNet + SE (Hu et al., 2018).
# SE, CBAM and HOGA all sit after conv2 (the 3x3) of every bottleneck in
# all four stages, for a fair comparison. Why conv2: HOGA's two
# C x C projections grow with C^2; after conv2 they add about 4M
# parameters to ResNet-50, after conv3 (4x the channels) about 63M.
_base_ = './resnet101_8xb32-step100e_in1k.py'

model = dict(
    backbone=dict(plugins=[dict(cfg=dict(type='SE'), position='after_conv2')]))
