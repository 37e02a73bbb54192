"""Tiny data, derived configs and process helpers for the tool tests.

Imported by the tests and, through ``custom_imports``, by tool processes the
tests start (``PYTHONPATH`` holds this folder), where it registers
:class:`KillAfterCheckpointHook`.
"""
import json
import os
import signal
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmpretrain.datasets.categories import CIFAR10_CATEGORIES

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_ROOT = REPO_ROOT / 'configs'
HERE = Path(__file__).resolve().parent


@HOOKS.register_module()
class KillAfterCheckpointHook(Hook):
    """SIGKILL the process right after the checkpoint of epoch ``epoch``.

    Its priority is the lowest, so it runs after ``CheckpointHook`` has
    written the checkpoint: what a crash or a pre-empted job looks like.
    With ``rank`` only the process of that rank dies (rank 0 writes the
    checkpoints); by default every process does.
    """
    priority = 'LOWEST'

    def __init__(self, epoch: int, rank: Optional[int] = None):
        self.epoch = epoch
        self.rank = rank

    def after_train_epoch(self, runner) -> None:
        # ``runner.epoch`` counts the epochs finished before this one.
        if runner.epoch + 1 == self.epoch and self.rank in (None, runner.rank):
            os.kill(os.getpid(), signal.SIGKILL)


def write_cifar10(root: Path, num_train: int, num_test: int, seed: int = 0) -> Path:
    """Random CIFAR-10-format pickles (``cifar-10-batches-py``) under ``root``."""
    from autola_mm.datasets import write_cifar_files
    rng = np.random.default_rng(seed)

    def split(count):
        images = rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)
        return images, [int(i) % 10 for i in range(count)]

    write_cifar_files(root, split(num_train), split(num_test), CIFAR10_CATEGORIES)
    return root


def write_imagenet(root: Path, images_per_class: int = 2, classes=(0, 7)) -> Path:
    """A tiny ImageNet in the list-file layout: ``{train,val}/<wnid>/*.JPEG``
    and ``meta/{train,val}.txt`` of ``<path> <label>`` lines."""
    import cv2
    rng = np.random.default_rng(0)
    (root / 'meta').mkdir(parents=True, exist_ok=True)
    for split in ('train', 'val'):
        lines = []
        for label in classes:
            folder = root / split / f'n{label:08d}'
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(images_per_class):
                image = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
                cv2.imwrite(str(folder / f'{i}.JPEG'), image)
                lines.append(f'{folder.name}/{i}.JPEG {label}')
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return root


def coco_with_all_classes(coco_dir: Path, directory: Path) -> Path:
    """A copy of ``coco_dir/test_coco.json`` that lists all 80 COCO classes.

    The sample names only ``person``; untrained 80-class detectors predict
    every class, and MMDetection's CocoMetric needs a category id for each.
    Person keeps id 1 (its annotations); the others get free ids.
    """
    from mmdet.datasets import CocoDataset
    coco = json.loads((coco_dir / 'test_coco.json').read_text())
    others = [name for name in CocoDataset.METAINFO['classes'] if name != 'person']
    coco['categories'] += [
        dict(id=index, name=name, supercategory=name) for index, name in enumerate(others, 2)
    ]
    path = directory / 'test_coco_80_classes.json'
    path.write_text(json.dumps(coco))
    return path


def derived_config(directory: Path, name: str, base: Path, body: str) -> Path:
    """A config file that inherits ``base`` and overrides what ``body`` says."""
    path = directory / f'{name}.py'
    path.write_text(f'_base_ = {str(base)!r}\n{body}')
    return path


def cifar_body(data_root: Path, train_images: int, batch_size: int, max_epochs: int) -> str:
    """Overrides that train a CIFAR-10 config for ``max_epochs`` on the first
    ``train_images`` images under ``data_root`` (read by autola_mm's
    LocalCIFAR10: synthetic files have no official checksums), validating,
    logging and checkpointing at every epoch / iteration."""
    return f'''
train_dataloader = dict(
    batch_size={batch_size}, num_workers=0,
    dataset=dict(_delete_=True, type='LocalCIFAR10', data_root={str(data_root)!r},
                 split='train', pipeline=_base_.train_pipeline, indices={train_images}))
val_dataloader = dict(
    batch_size={batch_size}, num_workers=0,
    dataset=dict(_delete_=True, type='LocalCIFAR10', data_root={str(data_root)!r},
                 split='test', pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs={max_epochs}, val_interval=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=-1))
'''


def subprocess_env() -> Dict[str, str]:
    """Environment of tool processes: this checkout and this folder importable,
    one thread per process (two processes share the machine's cores)."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(REPO_ROOT), str(HERE)] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHON=sys.executable)
    return env


def training_scalars(work_dir: Path) -> List[dict]:
    """Every line of every ``vis_data/scalars.json`` in ``work_dir`` (by run)."""
    records = []
    for path in sorted(work_dir.glob('*/vis_data/scalars.json')):
        records += [json.loads(line) for line in path.read_text().splitlines()]
    return records


def losses_by_step(records: List[dict]) -> Dict[int, float]:
    """The training loss of each logged iteration."""
    return {r['step']: r['loss'] for r in records if 'loss' in r}
