"""Helpers of the search tests: tiny supernets and synthetic CIFAR-format data."""
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO_ROOT = Path(__file__).resolve().parents[2]
SEARCH_CONFIG = REPO_ROOT / 'configs' / 'search' / 'autola_resnet20_cifar10.py'
CLASS_NAMES = [f'class_{i}' for i in range(10)]


def write_cifar10_layout(root: Path, num_train: int, num_test: int, seed: int = 0) -> Path:
    """Write random images in the ``cifar-10-batches-py`` pickle layout.

    Each image is its class's colour plus noise, so the labels are learnable.
    Rows hold 3072 bytes: the R, G and B planes of a 32x32 image, as in CIFAR.

    Returns:
        Path: ``root``, the folder that contains ``cifar-10-batches-py``.
    """
    rng = np.random.default_rng(seed)
    folder = root / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    colours = rng.integers(0, 256, size=(10, 3, 1, 1))

    def batch(num: int, name: str) -> dict:
        labels = rng.integers(0, 10, size=num)
        noise = rng.integers(-40, 40, size=(num, 3, 32, 32))
        images = np.clip(colours[labels] + noise, 0, 255).astype(np.uint8)
        return {'batch_label': name, 'labels': labels.tolist(),
                'data': images.reshape(num, 3 * 32 * 32),
                'filenames': [f'{name}_{i}.png' for i in range(num)]}

    train_names = [f'data_batch_{i}' for i in range(1, 6)]
    for name, size in zip(train_names, np.array_split(np.arange(num_train), 5)):
        with open(folder / name, 'wb') as f:
            pickle.dump(batch(len(size), name), f)
    with open(folder / 'test_batch', 'wb') as f:
        pickle.dump(batch(num_test, 'test_batch'), f)
    with open(folder / 'batches.meta', 'wb') as f:
        pickle.dump({'label_names': CLASS_NAMES, 'num_vis': 3072}, f)
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


def tiny_search_model(channels: int = 16, num_classes: int = 3, **kwargs):
    """A conv stem, one SearchHOGA and the classifier: a supernet small enough
    for float64 finite differences."""
    from autola_mm.models.search import HOGASearchClassifier, SearchHOGA

    backbone = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False),
                             SearchHOGA(channels))
    return HOGASearchClassifier(backbone, num_classes=num_classes, in_channels=channels,
                                **kwargs)


def labelled_batch(num: int, num_classes: int, size: int = 6, dtype=torch.float32) -> dict:
    """A preprocessed batch: float images and data samples with ``gt_label``."""
    from mmengine.structures import BaseDataElement

    return dict(inputs=torch.randn(num, 3, size, size, dtype=dtype),
                data_samples=[BaseDataElement(gt_label=torch.tensor([i % num_classes]))
                              for i in range(num)])
