# Faster R-CNN + FPN (ResNet-50) on COCO + HOGA (the searched, published genotype).
# SE, CBAM and HOGA all sit after conv2 (the 3x3) of every bottleneck in
# all four stages, for a fair comparison. Why conv2: HOGA's two
# C x C projections grow with C^2; after conv2 they add about 4M
# parameters to ResNet-50, after conv3 (4x the channels) about 63M.
_base_ = './faster-rcnn_r50_fpn_4xb2-14e_coco.py'

model = dict(
    backbone=dict(plugins=[dict(cfg=dict(type='HOGA'), position='after_conv2')]))
