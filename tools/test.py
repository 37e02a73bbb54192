"""Evaluate a checkpoint of an AutoLA experiment (detection, keypoints or classification).

The config's ``default_scope`` decides which library's registry builds the
datasets, model and metrics; ``import autola_mm`` registers the attention
modules of AutoLA (Ma et al., "Auto Learning Attention", NeurIPS 2020).

Examples:
    python tools/test.py configs/faster_rcnn_r50_fpn_hoga_1x.py epoch_14.pth
    python tools/test.py CONFIG CKPT --show-dir vis   # draw the predictions
    tools/dist_test.sh CONFIG CKPT 8
"""
import argparse
import sys

from mmengine.config import Config

import autola_mm  # noqa: F401  (registers the models in mmengine's root registry)
from autola_mm.utils import (DataLayoutError, add_runner_arguments, build_runner,
                             load_tool_config, parse_runner_args, prepare_run)

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


def main(argv=None) -> dict:
    """Evaluate; returns the test metrics."""
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        enable_show_dir(cfg, args.show_dir)
    try:
        prepare_run(cfg, TEST_LOADERS)
    except DataLayoutError as err:
        sys.exit(str(err))
    return build_runner(cfg).test()


if __name__ == '__main__':
    main()
