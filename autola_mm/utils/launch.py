"""What ``tools/train.py`` and ``tools/test.py`` share: config, checks, Runner.

The tools of AutoLA (Ma et al., "Auto Learning Attention", NeurIPS 2020) run
MMDetection, MMPose and MMPretrain configs alike: the config's
``default_scope`` picks the registry, so one code path serves every task.
"""
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .data_layout import check_data_roots
from .distributed import LAUNCHERS, init_cpu_distributed, use_cpu_model_wrapper


def load_tool_config(config: str, cfg_options: Optional[dict], work_dir: Optional[str],
                     launcher: str) -> Config:
    """Read ``config``, apply ``--cfg-options`` and set the work dir and launcher.

    Args:
        config (str): Path of the experiment config.
        cfg_options (dict | None): ``--cfg-options`` key/value overrides.
        work_dir (str | None): ``--work-dir``; when None the config's
            ``work_dir`` or ``./work_dirs/<config name>``.
        launcher (str): ``--launcher``: none, pytorch, slurm or mpi.

    Returns:
        Config: The merged config.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f'unknown launcher {launcher!r}; accepted: {", ".join(LAUNCHERS)}')
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
    """Check the data and set up the processes of a CPU-only machine.

    Args:
        cfg (Config): The merged config; its model wrapper is edited when a
            gloo process group is created.
        loaders (Sequence[str]): Dataloaders the run reads, e.g.
            ``('train_dataloader', 'val_dataloader')``.

    Raises:
        DataLayoutError: When a dataset the run reads is not on disk.
    """
    check_data_roots(cfg, loaders)
    if init_cpu_distributed(cfg.launcher):
        use_cpu_model_wrapper(cfg)


def build_runner(cfg: Config) -> Runner:
    """Build the Runner the config asks for (``runner_type``, default Runner)."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
