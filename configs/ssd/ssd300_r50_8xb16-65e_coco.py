# SSD300 with the modified ResNet-50 of the AutoLA supplement (conv5_x removed,
# conv4_x at stride 1, BN after every added convolution) on COCO 2017, without
# attention: 8 GPUs x 16 images, 65 epochs.
_base_ = [
    '../_base_/models/ssd300_r50.py',
    '../_base_/datasets/coco_detection_ssd300_bs16.py',
    '../_base_/schedules/ssd300_sgd-65e_bs128.py',
    '../_base_/runtime/detection.py',
]

# SSDHeadWithPredict: MMDetection 3.3.0's SSDHead cannot predict (mmdet#11305).
custom_imports = dict(
    imports=['autola_mm', 'autola_mm.compat.mmdet_ssd_head'], allow_failed_imports=False)
