"""Train an AutoLA experiment: an MMDetection, MMPose or MMPretrain config.

The config's ``default_scope`` decides which library's registry builds the
datasets, model and evaluators; ``import autola_mm`` registers HOGA, SE, CBAM
and the plugin backbones of AutoLA (Ma et al., "Auto Learning Attention",
NeurIPS 2020) for all of them.

Examples:
    python tools/train.py configs/faster_rcnn_r50_fpn_hoga_1x.py
    python tools/train.py CONFIG --resume                # latest in the work dir
    tools/dist_train.sh CONFIG 8 --auto-scale-lr         # 8 processes (torchrun)
"""
import argparse
import os
import sys

from mmengine.config import Config, DictAction
from mmengine.device import get_device

import autola_mm  # noqa: F401  (registers the models in mmengine's root registry)
from autola_mm.utils import DataLayoutError, build_runner, load_tool_config, prepare_run
from autola_mm.utils.distributed import LAUNCHERS

TRAIN_LOADERS = ('train_dataloader', 'val_dataloader')


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options, as in the OpenMMLab libraries' train tools."""
    parser = argparse.ArgumentParser(description='Train an AutoLA model')
    parser.add_argument('config', help='experiment config file')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints '
                        '(default: the config\'s work_dir or ./work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto', metavar='CKPT',
                        help='resume from CKPT, or from the latest checkpoint in the '
                        'work dir when CKPT is omitted')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (needs a CUDA device)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate linearly from the config\'s '
                        'auto_scale_lr.base_batch_size to the actual total batch')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config entries, e.g. train_cfg.max_epochs=1 '
                        'train_dataloader.dataset.data_root=/data/cifar10')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none',
                        help='how the processes were started (none: one process)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help='set by torch.distributed.launch; torchrun uses LOCAL_RANK')
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def apply_train_args(cfg: Config, args: argparse.Namespace) -> None:
    """Apply ``--amp``, ``--auto-scale-lr`` and ``--resume`` to ``cfg`` in place."""
    if args.amp:
        if get_device() == 'cpu':
            raise ValueError('--amp needs an accelerator (CUDA, NPU or MLU): mmengine\'s '
                             'AmpOptimWrapper does not run on the CPU')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'base_batch_size' not in (cfg.get('auto_scale_lr') or {}):
            raise KeyError(f'--auto-scale-lr needs auto_scale_lr.base_batch_size in '
                           f'{args.config}')
        cfg.auto_scale_lr.enable = True
    if args.resume is not None:
        cfg.resume = True
        cfg.load_from = None if args.resume == 'auto' else args.resume


def main(argv=None):
    """Train; returns the Runner after training."""
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    apply_train_args(cfg, args)
    try:
        prepare_run(cfg, TRAIN_LOADERS)
    except DataLayoutError as err:
        sys.exit(str(err))
    runner = build_runner(cfg)
    runner.train()
    return runner


if __name__ == '__main__':
    main()
