"""Export a trained MMDetection, MMPose or MMPretrain model with HOGA, SE or CBAM to ONNX.

The graph holds standard ONNX operators only (the attention modules take the
reference path of ``autola_mm.ops`` during export) and takes a normalised
(N, 3, H, W) image; see :mod:`autola_mm.deployment.onnx_export` for what it
returns per task, and ``docs/deployment.md``.

Examples:
    python tools/deployment/pytorch2onnx.py configs/faster_rcnn_r50_fpn_hoga_1x.py \\
        epoch_12.pth --out faster_rcnn_hoga.onnx --shape 800 1344 --verify
    python tools/deployment/pytorch2onnx.py CONFIG CKPT --out model.onnx --dynamic-batch \\
        --exporter dynamo
"""
import argparse
import sys
from typing import Optional, Sequence

import torch
from mmengine.config import DictAction

from autola_mm.analysis import INPUT_ERRORS, load_model
from autola_mm.analysis.complexity import default_shape
from autola_mm.deployment import (DenseOutputs, OnnxExportError, export_onnx, onnx_domains,
                                  onnxruntime_difference)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description='Export a model to ONNX')
    parser.add_argument('config', help='config file (mmdet, mmpose or mmpretrain)')
    parser.add_argument('checkpoint', help='checkpoint of that config')
    parser.add_argument('--out', required=True, help='the ONNX file to write')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input height and width (default: from the config)')
    parser.add_argument('--dynamic-batch', action='store_true',
                        help='make the batch axis of the input and outputs dynamic')
    parser.add_argument('--exporter', choices=('torchscript', 'dynamo'), default='torchscript',
                        help='torch.onnx.export(dynamo=False), as mmdeploy uses (default), '
                        'or the dynamo exporter (torch.export and onnxscript)')
    parser.add_argument('--verify', action='store_true',
                        help='run the graph on ONNX Runtime and print the largest difference '
                        'from PyTorch on the same input')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE', help='override config entries')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run the CLI; a wrong input ends it with ``error: <message>``."""
    args = parse_args(argv)
    try:
        model, cfg = load_model(args.config, args.checkpoint, args.cfg_options)
        height, width = default_shape(cfg) if args.shape is None else args.shape
        network = DenseOutputs(model, cfg.get('default_scope', 'mmpretrain'))
        # torch.export specialises an axis of size 1: a dynamic batch is exported on 2.
        batch = 2 if args.dynamic_batch else 1
        image = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(0))
        names = export_onnx(network, image, args.out, args.dynamic_batch, args.exporter)
        print(f'wrote {args.out}: input ({batch}, 3, {height}, {width})'
              f'{" with a dynamic batch" if args.dynamic_batch else ""}, outputs '
              f'{", ".join(names)}; operator domains {onnx_domains(args.out)}')
        if args.verify:
            batch = 3 if args.dynamic_batch else 1
            check = torch.randn(batch, 3, height, width,
                                generator=torch.Generator().manual_seed(1))
            difference = onnxruntime_difference(args.out, network, check)
            print(f'ONNX Runtime vs PyTorch on a random batch of {batch}: largest absolute '
                  f'difference {difference:.3g}')
    except (*INPUT_ERRORS, OnnxExportError, FileNotFoundError) as error:
        sys.exit(f'error: {error}')


if __name__ == '__main__':
    main()
