"""CIFAR-10/100 in their python-pickle format, read from (and written to) disk.

mmpretrain's ``CIFAR10`` checks the files against the md5 sums of the official
release and downloads the archive when they differ, so it can read neither a
dataset converted into the CIFAR format nor anything offline. These datasets
read whatever is on disk in the official layout and never download::

    data_root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
    data_root/cifar-100-python/{train, test, meta}

:func:`write_cifar_files` writes that layout, for converted datasets (the
digits demo) and for tests.
"""
import os.path as osp
import pickle
from pathlib import Path
from typing import Sequence, Tuple

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.registry import DATASETS

DATA_DOC = 'docs/data.md'


class _CIFARFiles(BaseDataset):
    """A CIFAR-format dataset on disk: ``(32, 32, 3)`` uint8 images and labels.

    Args:
        data_root (str): The folder that holds ``base_folder``.
        split (str): ``'train'`` or ``'test'``.
        **kwargs: Other arguments of :class:`mmengine.dataset.BaseDataset`
            (``pipeline``, ``metainfo``, ``indices``, ...). ``metainfo``'s
            ``classes`` win over the names stored in the meta file.
    """
    base_folder: str
    split_files: dict
    meta_file: str
    label_key: str
    names_key: str

    def __init__(self, data_root: str, split: str = 'train', **kwargs):
        if split not in self.split_files:
            raise ValueError(f'split must be one of {sorted(self.split_files)}, '
                             f'got {split!r}')
        self.split = split
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    @property
    def folder(self) -> Path:
        return Path(self.data_root) / self.base_folder

    def _checked_path(self, name: str) -> Path:
        path = self.folder / name
        if not path.is_file():
            expected = ', '.join(
                [*sum(self.split_files.values(), ()), self.meta_file])
            raise FileNotFoundError(
                f'{type(self).__name__}: {path} does not exist. Expected the '
                f'CIFAR python-format files {expected} in {self.folder} '
                f'(see {DATA_DOC} for the layout).')
        return path

    def _load_pickle(self, name: str) -> dict:
        with open(self._checked_path(name), 'rb') as f:
            return pickle.load(f, encoding='latin1')

    def load_data_list(self) -> list:
        images, labels = [], []
        for name in self.split_files[self.split]:
            entry = self._load_pickle(name)
            images.append(np.asarray(entry['data'], dtype=np.uint8))
            labels.extend(entry[self.label_key])
        images = np.concatenate(images).reshape(-1, 3, 32, 32)
        images = images.transpose(0, 2, 3, 1)
        if 'classes' not in self._metainfo:
            self._metainfo['classes'] = tuple(
                self._load_pickle(self.meta_file)[self.names_key])
        return [
            dict(img=image, gt_label=int(label))
            for image, label in zip(images, labels)
        ]


@DATASETS.register_module()
class LocalCIFAR10(_CIFARFiles):
    """CIFAR-10 (or any 10-file-layout conversion) read from disk, no download."""
    base_folder = 'cifar-10-batches-py'
    split_files = dict(
        train=tuple(f'data_batch_{i}' for i in range(1, 6)),
        test=('test_batch', ))
    meta_file = 'batches.meta'
    label_key = 'labels'
    names_key = 'label_names'


@DATASETS.register_module()
class LocalCIFAR100(_CIFARFiles):
    """CIFAR-100 (fine labels) read from disk, no download."""
    base_folder = 'cifar-100-python'
    split_files = dict(train=('train', ), test=('test', ))
    meta_file = 'meta'
    label_key = 'fine_labels'
    names_key = 'fine_label_names'


def write_cifar_files(data_root: str,
                      train: Tuple[np.ndarray, Sequence[int]],
                      test: Tuple[np.ndarray, Sequence[int]],
                      class_names: Sequence[str],
                      dataset: str = 'cifar10') -> Path:
    """Write images in the CIFAR python format that :class:`LocalCIFAR10` reads.

    Args:
        data_root (str): Where to create ``cifar-10-batches-py`` (or
            ``cifar-100-python``).
        train (tuple): ``(images, labels)``: uint8 images of shape
            (N, 32, 32, 3) and N integer labels.
        test (tuple): The same for the test split.
        class_names (Sequence[str]): One name per label.
        dataset (str): ``'cifar10'`` (train split over 5 batch files) or
            ``'cifar100'``.

    Returns:
        Path: The folder that was written.
    """
    datasets = dict(cifar10=LocalCIFAR10, cifar100=LocalCIFAR100)
    if dataset not in datasets:
        raise ValueError(f'dataset must be one of {sorted(datasets)}, got {dataset!r}')
    cls = datasets[dataset]
    folder = Path(data_root) / cls.base_folder
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in dict(train=train, test=test).items():
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.shape[1:] != (32, 32, 3):
            raise ValueError('images must be uint8 of shape (N, 32, 32, 3), got '
                             f'{images.dtype} {images.shape}')
        if len(labels) != len(images):
            raise ValueError(f'{len(images)} {split} images but {len(labels)} labels')
        rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
        files = cls.split_files[split]
        for name, part in zip(files, np.array_split(np.arange(len(rows)), len(files))):
            entry = {'data': rows[part], cls.label_key: [int(labels[i]) for i in part],
                     'filenames': [f'{split}_{i:05d}.png' for i in part]}
            with open(osp.join(folder, name), 'wb') as f:
                pickle.dump(entry, f)
    with open(folder / cls.meta_file, 'wb') as f:
        pickle.dump({cls.names_key: list(class_names)}, f)
    return folder
