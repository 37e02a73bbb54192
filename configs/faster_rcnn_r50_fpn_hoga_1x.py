# The name the AutoLA README promises: Faster R-CNN + FPN, ResNet-50 with the
# searched HOGA after conv2 of every bottleneck, on the supplement's 14-epoch
# schedule (4 GPUs x 2 images; see configs/faster_rcnn/ for the comparison).
#   python tools/train.py configs/faster_rcnn_r50_fpn_hoga_1x.py
_base_ = './faster_rcnn/faster-rcnn_r50-hoga_fpn_4xb2-14e_coco.py'
