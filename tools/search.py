"""Search a HOGA cell with the differentiable search of AutoLA (Ma et al., NeurIPS 2020).

The config names a search model (``HOGASearchClassifier``), the two-optimizer
schedule and the ``AutoLASearchLoop``. The work dir receives the checkpoints,
``genotype.json`` (at every checkpoint and at the end), ``alphas.npy`` (alpha
after every epoch), ``alpha_history.png`` and ``genotype.png``. The genotype
plugs into any config: ``dict(type='HOGA', genotype='<work_dir>/genotype.json')``.
Searches with other ``--seed`` values tell how stable the genotype is:
``tools/analysis/compare_searches.py`` compares their work dirs.

Examples:
    python tools/search.py configs/search/autola_resnet20_cifar10.py
    python tools/search.py CONFIG --resume                # latest in the work dir
    python tools/search.py CONFIG --cfg-options model.unrolled=True
    python tools/search.py CONFIG --seed 1 --work-dir work_dirs/search_seed1
    torchrun --nproc_per_node 2 tools/search.py CONFIG --launcher pytorch
"""
import argparse
import os.path as osp
import sys

import autola_mm  # noqa: F401  (registers the search model, loop and hooks)
from autola_mm.utils import (DataLayoutError, GenotypeFileError, RestartRendezvousError,
                             add_resume_argument, add_runner_arguments, apply_resume,
                             build_runner, close_distributed, exit_on_checkpoint_errors,
                             load_tool_config, parse_runner_args, prepare_run)

SEARCH_LOADERS = ('train_dataloader', )


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options, as in ``tools/train.py``."""
    parser = argparse.ArgumentParser(description='Search a HOGA cell (AutoLA)')
    add_runner_arguments(parser, 'search config file', 'logs, checkpoints and the genotype',
                         'train_cfg.max_epochs=1 train_dataloader.dataset.data_root=/data/cifar10')
    add_resume_argument(parser)
    parser.add_argument('--seed', type=int,
                        help="the search's random seed (randomness.seed): initial weights and "
                        'alpha, augmentations, batch order; the split of the training set '
                        'keeps train_cfg.split_seed')
    return parse_runner_args(parser, argv)


def main(argv=None):
    """Search; returns the Runner after the search."""
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    apply_resume(cfg, args.resume)
    if args.seed is not None:
        cfg.randomness = dict(cfg.get('randomness') or {}, seed=args.seed)
    try:
        prepare_run(cfg, SEARCH_LOADERS)
    except (DataLayoutError, GenotypeFileError, RestartRendezvousError) as err:
        sys.exit(str(err))
    runner = build_runner(cfg)
    with exit_on_checkpoint_errors(cfg):
        runner.train()
    genotype_file = osp.join(runner.work_dir, 'genotype.json')
    runner.logger.info(f"Use the searched cell with dict(type='HOGA', "
                       f"genotype='{genotype_file}')")
    close_distributed(cfg.launcher, end_process=__name__ == '__main__')
    return runner


if __name__ == '__main__':
    main()
