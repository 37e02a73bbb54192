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
import sys

from mmengine.config import Config
from mmengine.device import get_device

import autola_mm  # noqa: F401  (registers the models in mmengine's root registry)
from autola_mm.utils import (DataLayoutError, GenotypeFileError, RestartRendezvousError,
                             add_resume_argument, add_runner_arguments, apply_resume,
                             build_runner, close_distributed, exit_on_checkpoint_errors,
                             load_tool_config, parse_runner_args, prepare_run)

TRAIN_LOADERS = ('train_dataloader', 'val_dataloader')


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options, as in the OpenMMLab libraries' train tools."""
    parser = argparse.ArgumentParser(description='Train an AutoLA model')
    add_runner_arguments(parser, 'experiment config file', 'logs and checkpoints',
                         'train_cfg.max_epochs=1 train_dataloader.dataset.data_root=/data/cifar10')
    add_resume_argument(parser)
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (needs a CUDA device)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate linearly from the config\'s '
                        'auto_scale_lr.base_batch_size to the actual total batch')
    return parse_runner_args(parser, argv)


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
    apply_resume(cfg, args.resume)


def main(argv=None):
    """Train; returns the Runner after training."""
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    apply_train_args(cfg, args)
    try:
        prepare_run(cfg, TRAIN_LOADERS)
    except (DataLayoutError, GenotypeFileError, RestartRendezvousError) as err:
        sys.exit(str(err))
    runner = build_runner(cfg)
    with exit_on_checkpoint_errors(cfg):
        runner.train()
    close_distributed(cfg.launcher, end_process=__name__ == '__main__')
    return runner


if __name__ == '__main__':
    main()
