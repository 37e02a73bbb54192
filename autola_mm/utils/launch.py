"""What ``tools/train.py``, ``test.py`` and ``search.py`` share: options, config, Runner.

The tools of AutoLA (Ma et al., "Auto Learning Attention", NeurIPS 2020) run
MMDetection, MMPose and MMPretrain configs alike: the config's
``default_scope`` picks the registry, so one code path serves every task.
"""
import argparse
import os
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .checkpoint_match import CompactKeyListFilter
from .data_layout import check_data_roots
from .distributed import (LAUNCHERS, elastic_restart_count, init_cpu_distributed,
                          use_cpu_model_wrapper)
from .genotype_files import check_genotype_files


def add_runner_arguments(parser: argparse.ArgumentParser, config_help: str,
                         work_dir_help: str, cfg_options_example: str) -> None:
    """The options every tool has: ``config``, ``--work-dir``, ``--cfg-options``,
    ``--launcher`` and ``--local_rank``.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
        config_help (str): Help of the config argument.
        work_dir_help (str): What the tool writes to its work dir.
        cfg_options_example (str): Overrides shown in the help.
    """
    parser.add_argument('config', help=config_help)
    parser.add_argument('--work-dir', help=f'directory for {work_dir_help} (default: the '
                        "config's work_dir or ./work_dirs/<config name>)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help=f'override config entries, e.g. {cfg_options_example}')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none',
                        help='how the processes were started (none: one process)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help='set by torch.distributed.launch; torchrun uses LOCAL_RANK')


def add_resume_argument(parser: argparse.ArgumentParser) -> None:
    """``--resume [CKPT]``; apply it with :func:`apply_resume`."""
    parser.add_argument('--resume', nargs='?', const='auto', metavar='CKPT',
                        help='resume from CKPT, or from the latest checkpoint in the '
                        'work dir when CKPT is omitted')


def parse_runner_args(parser: argparse.ArgumentParser,
                      argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the options and export ``--local_rank`` as ``LOCAL_RANK`` unless set."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def apply_resume(cfg: Config, resume: Optional[str]) -> None:
    """Apply ``--resume`` to ``cfg``: None leaves it, ``'auto'`` takes the latest.

    A worker that torchrun restarted (``TORCHELASTIC_RESTART_COUNT`` > 0, see
    ``MAX_RESTARTS`` of ``tools/dist_train.sh``) resumes by itself from the
    latest checkpoint of the work dir (mmengine's ``last_checkpoint`` file),
    as ``--resume`` would; while the work dir has none, it starts as the first
    attempt did (from ``--resume CKPT`` when given). :func:`build_runner`
    logs the resumption.

    Args:
        cfg (Config): The merged config, its ``work_dir`` set; edited in place.
        resume (str | None): ``--resume``: None, ``'auto'`` or a checkpoint.
    """
    if elastic_restart_count() and (
            resume is None or osp.isfile(osp.join(cfg.work_dir, 'last_checkpoint'))):
        resume = 'auto'
    if resume is not None:
        cfg.resume = True
        cfg.load_from = None if resume == 'auto' else resume


def load_tool_config(config: str, cfg_options: Optional[dict], work_dir: Optional[str],
                     launcher: str) -> Config:
    """Read ``config``, apply ``--cfg-options`` and set the work dir and launcher.

    Args:
        config (str): Path of the experiment config.
        cfg_options (dict | None): ``--cfg-options`` key/value overrides.
        work_dir (str | None): ``--work-dir``; when None the config's
            ``work_dir`` or ``./work_dirs/<config name>``.
        launcher (str): ``--launcher``: none, pytorch, slurm or mpi (checked
            when :func:`prepare_run` starts the processes).

    Returns:
        Config: The merged config.
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg


def prepare_run(cfg: Config, loaders: Sequence[str]) -> None:
    """Check the data and genotype files and set up the processes of a CPU-only machine.

    Args:
        cfg (Config): The merged config; its model wrapper is edited when a
            gloo process group is created.
        loaders (Sequence[str]): Dataloaders the run reads, e.g.
            ``('train_dataloader', 'val_dataloader')``.

    Raises:
        DataLayoutError: When a dataset the run reads is not on disk.
        GenotypeFileError: When a genotype file the model names does not exist.
        RestartRendezvousError: When workers torchrun restarted do not all
            join the gloo group again in time.
    """
    check_data_roots(cfg, loaders)
    check_genotype_files(cfg.get('model'))
    if init_cpu_distributed(cfg.launcher):
        use_cpu_model_wrapper(cfg)


def build_runner(cfg: Config) -> Runner:
    """Build the Runner the config asks for (``runner_type``, default Runner).

    Its logger shortens mmengine's state-dict warnings (a ``Pretrained``
    init_cfg) to counts and the first keys (:class:`CompactKeyListFilter`),
    and says when a worker torchrun restarted resumes (:func:`apply_resume`).
    """
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    runner.logger.addFilter(CompactKeyListFilter())
    restarts = elastic_restart_count()
    if restarts and cfg.get('resume'):
        source = cfg.get('load_from') or f'the latest checkpoint in {runner.work_dir}'
        runner.logger.info(f'torchrun restarted the workers (TORCHELASTIC_RESTART_COUNT='
                           f'{restarts}): resuming from {source}, as --resume does')
    return runner
