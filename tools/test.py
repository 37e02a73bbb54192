"""Evaluate a checkpoint of an AutoLA experiment (detection, keypoints or classification).

The config's ``default_scope`` decides which library's registry builds the
datasets, model and metrics; ``import autola_mm`` registers the attention
modules of AutoLA (Ma et al., "Auto Learning Attention", NeurIPS 2020).

The checkpoint must hold the weights of the config's model: one of another
model (another attention, genotype or head) stops the tool before any
evaluation with the first keys that differ, instead of scoring a model that
kept its initial weights. ``--partial-load`` evaluates such a pair anyway.

Examples:
    python tools/test.py configs/faster_rcnn_r50_fpn_hoga_1x.py epoch_14.pth
    python tools/test.py CONFIG CKPT --show-dir vis   # draw the predictions
    tools/dist_test.sh CONFIG CKPT 8
"""
import argparse
import sys

from mmengine.config import Config
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import load_state_dict

import autola_mm  # noqa: F401  (registers the models in mmengine's root registry)
from autola_mm.utils import (CheckpointMismatchError, CorruptCheckpointError, DataLayoutError,
                             GenotypeFileError, MissingCheckpointError, add_runner_arguments,
                             build_runner, check_checkpoint_fits, checkpoint_state_dict,
                             close_distributed, load_tool_config, parse_runner_args,
                             prepare_run, read_checkpoint)

TEST_LOADERS = ('test_dataloader', )

# Visualization hook of each library: the switch that turns drawing on and the
# key of its output folder.
VISUALIZATION_KEYS = {
    'DetVisualizationHook': ('draw', 'test_out_dir'),  # mmdet
    'PoseVisualizationHook': ('enable', 'out_dir'),  # mmpose
    'VisualizationHook': ('enable', 'out_dir'),  # mmpretrain
}


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options, as in the OpenMMLab libraries' test tools."""
    parser = argparse.ArgumentParser(description='Evaluate an AutoLA model')
    add_runner_arguments(parser, 'experiment config file', 'the evaluation logs',
                         'test_dataloader.dataset.data_root=/data/coco/')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--show-dir', help='draw the predictions of every test image into '
                        'this folder; mmdet and mmpose put a relative path under '
                        '<work_dir>/<timestamp>/, mmpretrain under the current directory')
    parser.add_argument('--partial-load', action='store_true',
                        help='evaluate even when the checkpoint does not fit the model: '
                        'load the weights that fit, keep the initial ones elsewhere and '
                        'warn with the first keys that differ')
    return parse_runner_args(parser, argv)


def enable_show_dir(cfg: Config, show_dir: str) -> None:
    """Turn on the config's visualization hook and point it at ``show_dir``."""
    hook = cfg.get('default_hooks', {}).get('visualization')
    hook_type = str(hook.get('type', '')).split('.')[-1] if hook else None
    if hook_type not in VISUALIZATION_KEYS:
        raise KeyError(f'--show-dir needs default_hooks.visualization of type '
                       f'{", ".join(VISUALIZATION_KEYS)}; the config has {hook_type}')
    switch, out_dir = VISUALIZATION_KEYS[hook_type]
    hook[switch] = True
    hook[out_dir] = show_dir
    if hook_type == 'VisualizationHook':
        hook.interval = 1  # mmpretrain draws every 5000th image by default


def load_checked_checkpoint(runner: Runner, checkpoint: dict, checkpoint_path: str,
                            config_path: str, partial: bool) -> None:
    """Load a checkpoint into the Runner's model once it is known to fit.

    Args:
        runner (Runner): The Runner of the config, its model built.
        checkpoint (dict): The checkpoint, from ``read_checkpoint``.
        checkpoint_path (str): Its file (or URL), named in the messages.
        config_path (str): The config file, named in the messages.
        partial (bool): Load a checkpoint that does not fit, with a warning,
            instead of raising.

    Raises:
        CheckpointMismatchError: When the checkpoint does not fit and
            ``partial`` is False.
    """
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    try:
        check_checkpoint_fits(model, checkpoint, checkpoint_path, config_path)
    except CheckpointMismatchError as error:
        if not partial:
            raise CheckpointMismatchError(
                f'{error}\nnothing was evaluated: give the checkpoint of this config, or '
                'add --partial-load to evaluate with the weights that fit') from None
        runner.logger.warning(f'--partial-load: {error}\nweights missing from the checkpoint '
                              'or of another shape keep their initial values')
    runner.call_hook('after_load_checkpoint', checkpoint=checkpoint)
    # Any difference was reported above; mmengine would list every key again.
    load_state_dict(model, checkpoint_state_dict(checkpoint), strict=False, logger='silent')
    runner.logger.info(f'Load checkpoint from {checkpoint_path}')


def main(argv=None) -> dict:
    """Evaluate; returns the test metrics."""
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    cfg.load_from = None  # loaded, once checked, by load_checked_checkpoint
    cfg.resume = False
    if args.show_dir:
        enable_show_dir(cfg, args.show_dir)
    try:
        prepare_run(cfg, TEST_LOADERS)
        checkpoint = read_checkpoint(args.checkpoint)
    except (DataLayoutError, GenotypeFileError) as err:
        sys.exit(str(err))
    except (MissingCheckpointError, CorruptCheckpointError) as err:
        sys.exit(f'error: {err}')
    runner = build_runner(cfg)
    try:
        load_checked_checkpoint(runner, checkpoint, args.checkpoint, args.config,
                                args.partial_load)
    except CheckpointMismatchError as err:
        sys.exit(f'error: {err}')
    metrics = runner.test()
    close_distributed(cfg.launcher, end_process=__name__ == '__main__')
    return metrics


if __name__ == '__main__':
    main()
