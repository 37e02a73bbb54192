"""SSDHead that can predict under MMDetection 3.3.0.

MMDetection 3.3.0's ``BaseDenseHead._predict_by_feat_single`` reads
``self.loss_cls`` (for V3Det's custom class channels), which ``SSDHead`` never
sets: validation and testing of every SSD stop with ``AttributeError: 'SSDHead'
object has no attribute 'loss_cls'`` (open-mmlab/mmdetection#11305, #11780).
The SSD300 configs of AutoLA (Ma et al., "Auto Learning Attention", NeurIPS
2020) use :class:`SSDHeadWithPredict`, which is ``SSDHead`` plus the missing
attribute: SSD's softmax scores are then computed as MMDetection intends.
"""
from mmdet.models.dense_heads import SSDHead
from mmengine.registry import MODELS


@MODELS.register_module()
class SSDHeadWithPredict(SSDHead):
    """``SSDHead`` whose ``predict`` works under MMDetection 3.3.0.

    SSD computes its classification loss inline (softmax cross-entropy with
    hard negative mining) and has no ``loss_cls`` module; ``None`` tells the
    prediction code there is no custom class-channel loss. Arguments are
    :class:`mmdet.models.dense_heads.SSDHead`'s.
    """

    loss_cls = None
