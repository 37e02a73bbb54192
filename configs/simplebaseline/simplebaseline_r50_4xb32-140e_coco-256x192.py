# SimpleBaseline ResNet-50 on COCO keypoints without attention, 256x192 crops,
# distribution-aware (DARK) sub-pixel decoding as in the AutoLA supplement:
# 4 GPUs x 32 crops, Adam, 140 epochs.
_base_ = [
    '../_base_/models/simplebaseline_r50.py',
    '../_base_/datasets/coco_keypoints_256x192_bs32.py',
    '../_base_/schedules/simplebaseline_adam-140e_bs128.py',
    '../_base_/runtime/keypoints.py',
]

model = dict(head=dict(decoder=_base_.codec))
