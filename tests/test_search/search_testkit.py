"""Helpers of the search tests: tiny supernets, synthetic CIFAR-format data and
search processes.

Search processes that the tests start import this module through the config's
``custom_imports`` (``PYTHONPATH`` holds this folder), which registers
:class:`WaitForKillAfterCheckpointHook` there.
"""
import os
import sys
import time
from pathlib import Path
from typing import Dict

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from torch import nn

from autola_mm.datasets import write_cifar_files
from autola_mm.models.search import HOGASearchClassifier, SearchHOGA

REPO_ROOT = Path(__file__).resolve().parents[2]
SEARCH_CONFIG = REPO_ROOT / 'configs' / 'search' / 'autola_resnet20_cifar10.py'
CLASS_NAMES = [f'class_{i}' for i in range(10)]
HERE = Path(__file__).resolve().parent


@HOOKS.register_module()
class WaitForKillAfterCheckpointHook(Hook):
    """After the checkpoint of epoch ``epoch``, write ``marker`` and wait to be killed.

    Its priority is the lowest, so ``CheckpointHook`` (and the genotype and
    alpha history hooks) have written their files when it runs.

    Args:
        epoch (int): The epoch (1-based) after which to wait.
        marker (str): File to write when waiting starts.
        timeout (float): Seconds to wait before failing on its own. Default: 300.
    """

    priority = 'LOWEST'

    def __init__(self, epoch: int, marker: str, timeout: float = 300):
        self.epoch = epoch
        self.marker = marker
        self.timeout = timeout

    def after_train_epoch(self, runner) -> None:
        """Wait for the kill after the epoch ``epoch``."""
        if runner.epoch + 1 == self.epoch:
            Path(self.marker).write_text(str(os.getpid()))
            time.sleep(self.timeout)
            raise RuntimeError(f'nobody killed the search within {self.timeout} s')


def subprocess_env() -> Dict[str, str]:
    """Environment of search processes: this checkout and this folder
    importable, one thread, as the tests' own process (see conftest.py)."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(REPO_ROOT), str(HERE)] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    return env


def search_command(config: Path, work_dir: Path, *options: str) -> list:
    """``python tools/search.py CONFIG --work-dir WORK_DIR [options]``."""
    return [sys.executable, str(REPO_ROOT / 'tools' / 'search.py'), str(config),
            '--work-dir', str(work_dir), *options]


def write_cifar10_layout(root: Path, num_train: int, num_test: int, seed: int = 0) -> Path:
    """Write random CIFAR-10-format files with :func:`write_cifar_files`.

    Each image is its class's colour plus noise, so the labels are learnable.

    Returns:
        Path: ``root``, the folder that contains ``cifar-10-batches-py``.
    """
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, size=(10, 1, 1, 3))

    def split(num: int):
        labels = rng.integers(0, 10, size=num)
        noise = rng.integers(-40, 40, size=(num, 32, 32, 3))
        return np.clip(colours[labels] + noise, 0, 255).astype(np.uint8), labels.tolist()

    write_cifar_files(root, split(num_train), split(num_test), CLASS_NAMES)
    return root


def write_tiny_search_config(path: Path, data_root: Path, max_epochs: int = 2,
                             extra: str = '') -> Path:
    """A config over the real search config: a 1-block-per-stage, 8-wide supernet
    on 8x8 crops, 8 images per batch, ``max_epochs`` epochs."""
    path.write_text(f"""
_base_ = ['{SEARCH_CONFIG}']
data_root = '{data_root}'
tiny_pipeline = [
    dict(type='Resize', scale=(8, 8)),
    dict(type='RandomCrop', crop_size=8, padding=1),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=tiny_pipeline))
model = dict(backbone=dict(depth=8, base_channels=8))
train_cfg = dict(max_epochs={max_epochs})
default_hooks = dict(logger=dict(interval=1))
{extra}
""")
    return path


class TinySupernet(nn.Module):
    """A bias-free conv stem and ``num_cells`` SearchHOGA cells, each handed the
    mixing weights: ``forward(x, mixing_weights)`` maps (N, 3, H, W) to
    (N, channels, H, W)."""

    def __init__(self, channels: int, num_cells: int = 1, kernel_size: int = 3):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.cells = nn.ModuleList(SearchHOGA(channels) for _ in range(num_cells))

    def forward(self, x, mixing_weights):
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, mixing_weights)
        return x


def tiny_search_model(channels: int = 16, num_classes: int = 3, **kwargs):
    """A conv stem, one SearchHOGA and the classifier: a supernet small enough
    for float64 finite differences."""
    return HOGASearchClassifier(TinySupernet(channels), num_classes=num_classes,
                                in_channels=channels, **kwargs)


def labelled_batch(num: int, num_classes: int, size: int = 6, dtype=torch.float32) -> dict:
    """A preprocessed batch: float images and data samples with ``gt_label``."""
    from mmengine.structures import BaseDataElement

    return dict(inputs=torch.randn(num, 3, size, size, dtype=dtype),
                data_samples=[BaseDataElement(gt_label=torch.tensor([i % num_classes]))
                              for i in range(num)])
