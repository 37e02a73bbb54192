"""Boxes of an mmdeploy ONNX Runtime detector against the PyTorch model's, image by image.

Both models come from mmdeploy's task processor (the same preprocessing).
The two back ends post-process differently (mmdeploy's ONNX NMS against
mmdet's batched NMS), so boxes are matched, not compared by rank: each of
PyTorch's ``--top`` best detections is matched to the ONNX Runtime detection
of the same class with the largest IoU; a match is "the same box" when the
IoU is at least 0.99 and the scores differ by less than 1e-3. Printed per
image: how many are the same box and the largest coordinate difference
among them. Run it through ``run_mmdeploy.py`` (see docs/deployment.md)::

    PYTHONPATH=$MMDEPLOY_SITE python tools/deployment/run_mmdeploy.py \\
        tools/deployment/compare_mmdeploy_boxes.py DEPLOY_CFG MODEL_CFG \\
        work_dirs/mmdeploy/end2end.onnx CHECKPOINT IMAGE [IMAGE ...]
"""
import argparse
from typing import Optional, Sequence

import torch


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('deploy_cfg', help="mmdeploy's deploy config")
    parser.add_argument('model_cfg', help='the detector config')
    parser.add_argument('onnx', help='the end2end.onnx that tools/deploy.py wrote')
    parser.add_argument('checkpoint', help='the checkpoint it was exported from')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--top', type=int, default=20, help='boxes compared per image')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> float:
    """Print the comparison; return the fraction of PyTorch's detections found in ONNX Runtime."""
    args = parse_args(argv)
    from mmdeploy.apis.utils import build_task_processor
    from mmdet.structures.bbox import bbox_overlaps
    from mmdeploy.utils import get_input_shape, load_config
    deploy_cfg, model_cfg = load_config(args.deploy_cfg, args.model_cfg)
    processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')
    onnx_model = processor.build_backend_model([args.onnx])
    torch_model = processor.build_pytorch_model(args.checkpoint)
    same_boxes, compared, worst = 0, 0, 0.0
    for image in args.images:
        inputs, _ = processor.create_input(image, get_input_shape(deploy_cfg))
        with torch.no_grad():
            ours = onnx_model.test_step(inputs)[0].pred_instances
            reference = torch_model.test_step(inputs)[0].pred_instances
        top = min(len(reference.bboxes), args.top)
        same, largest = 0, 0.0
        for box, label, score in zip(reference.bboxes[:top], reference.labels[:top],
                                     reference.scores[:top]):
            candidates = (ours.labels == label).nonzero().flatten()
            if not len(candidates):
                continue
            overlaps = bbox_overlaps(box[None], ours.bboxes[candidates])[0]
            best = candidates[overlaps.argmax()]
            if overlaps.max() >= 0.99 and abs(ours.scores[best] - score) < 1e-3:
                same += 1
                largest = max(largest, (ours.bboxes[best] - box).abs().max().item())
        same_boxes, compared, worst = same_boxes + same, compared + top, max(worst, largest)
        print(f'{image}: ONNX Runtime {len(ours.bboxes)} detections, PyTorch '
              f'{len(reference.bboxes)}; of PyTorch\'s top {top}, {same} are the same box in '
              f'ONNX Runtime (largest coordinate difference {largest:.3g} px)')
    print(f'{same_boxes} of {compared} detections the same box on both back ends; largest '
          f'coordinate difference {worst:.3g} px')
    return same_boxes / max(compared, 1)


if __name__ == '__main__':
    main()
