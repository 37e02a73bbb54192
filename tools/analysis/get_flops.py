"""Print the parameters and FLOPs of an MMDetection, MMPose or MMPretrain config's model.

The counting and its convention (one FLOP is one multiply-add for
convolutions and linear layers; AutoLA's attention fully counted) are those
of :mod:`autola_mm.analysis.complexity`. Whatever remains uncounted is listed
under the table.

Examples:
    python tools/analysis/get_flops.py configs/faster_rcnn_r50_fpn_hoga_1x.py
    python tools/analysis/get_flops.py CONFIG --shape 224 224 --max-depth 3
    python tools/analysis/get_flops.py CONFIG --cfg-options model.backbone.depth=101
"""
import argparse
import sys
from typing import Optional, Sequence

from mmengine.config import DictAction

from autola_mm.analysis.complexity import get_flops
from autola_mm.utils import GenotypeFileError


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description='Print the parameters and FLOPs of a model')
    parser.add_argument('config', help='config file (mmdet, mmpose or mmpretrain)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input height and width (default: from the config)')
    parser.add_argument('--max-depth', type=int, default=2,
                        help='depth of the submodules in the table (default: 2)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config entries, e.g. model.backbone.depth=101')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run the CLI."""
    args = parse_args(argv)
    try:
        complexity = get_flops(args.config, args.shape, args.cfg_options, args.max_depth)
    except GenotypeFileError as error:
        sys.exit(f'error: {error}')
    print(complexity.format())


if __name__ == '__main__':
    main()
