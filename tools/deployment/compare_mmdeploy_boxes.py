"""Boxes of an mmdeploy ONNX Runtime detector against the PyTorch model's, image by image.

Both models come from mmdeploy's task processor (the same preprocessing);
for each image the boxes are matched by rank (both lists are sorted by
score) and the largest coordinate and score differences of the top ``--top``
are printed, then the worst over all images. Run it through
``run_mmdeploy.py`` (see docs/deployment.md)::

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
    """Print the differences; return the largest box coordinate difference (pixels)."""
    args = parse_args(argv)
    from mmdeploy.apis.utils import build_task_processor
    from mmdeploy.utils import get_input_shape, load_config
    deploy_cfg, model_cfg = load_config(args.deploy_cfg, args.model_cfg)
    processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')
    onnx_model = processor.build_backend_model([args.onnx])
    torch_model = processor.build_pytorch_model(args.checkpoint)
    worst = 0.0
    for image in args.images:
        inputs, _ = processor.create_input(image, get_input_shape(deploy_cfg))
        with torch.no_grad():
            ours = onnx_model.test_step(inputs)[0].pred_instances
            reference = torch_model.test_step(inputs)[0].pred_instances
        top = min(len(ours.bboxes), len(reference.bboxes), args.top)
        box = (ours.bboxes[:top] - reference.bboxes[:top]).abs().max().item() if top else 0.0
        score = (ours.scores[:top] - reference.scores[:top]).abs().max().item() if top else 0.0
        same_labels = bool((ours.labels[:top] == reference.labels[:top]).all())
        worst = max(worst, box)
        print(f'{image}: ONNX Runtime {len(ours.bboxes)} boxes, PyTorch {len(reference.bboxes)}; '
              f'top {top}: largest box difference {box:.3g} px, score {score:.3g}, '
              f'labels {"equal" if same_labels else "DIFFER"}')
    print(f'largest box difference over {len(args.images)} images: {worst:.3g} px')
    return worst


if __name__ == '__main__':
    main()
