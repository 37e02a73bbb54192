"""Data for the analyses: a config's dataset, deterministic and optionally cut.

The analyses of AutoLA's supplement (Ma et al., NeurIPS 2020) read a dataset
split in order, with the test-time pipeline, so two models see the same
images and two runs give the same numbers.
"""
import copy
from typing import Iterator, List, Optional, Tuple

import mmcv
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DATASETS
from mmengine.runner import Runner
from mmengine.utils import ProgressBar
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from .input_errors import AnalysisInputError

SPLITS = ('train', 'val', 'test')


def dataset_config(cfg: Config, split: str) -> dict:
    """The dataset of ``<split>_dataloader`` with the test-time pipeline.

    Args:
        cfg (Config): A model config with ``train/val/test_dataloader``.
        split (str): ``train``, ``val`` or ``test``.

    Returns:
        dict: The dataset config; for ``train`` its pipeline is the test
        dataloader's (no random augmentation).
    """
    if split not in SPLITS:
        raise AnalysisInputError(f'unknown split {split!r}; use one of {", ".join(SPLITS)}')
    key = f'{split}_dataloader'
    if cfg.get(key) is None:
        present = [s for s in SPLITS if cfg.get(f'{s}_dataloader') is not None]
        raise AnalysisInputError(f'the config has no {key}; it has the splits '
                       f'{", ".join(present) or "(none)"}')
    dataset = copy.deepcopy(cfg[key]['dataset'])
    test_dataset = (cfg.get('test_dataloader') or {}).get('dataset', {})
    if split == 'train' and 'pipeline' in dataset and 'pipeline' in test_dataset:
        dataset['pipeline'] = copy.deepcopy(test_dataset['pipeline'])
    return dataset


def build_dataset(cfg: Config, split: str) -> Dataset:
    """Build the dataset of a split (see :func:`dataset_config`).

    Args:
        cfg (Config): A model config whose default scope is entered.
        split (str): ``train``, ``val`` or ``test``.

    Returns:
        Dataset: The fully initialised dataset.
    """
    dataset = DATASETS.build(dataset_config(cfg, split))
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    return dataset


def class_names(dataset: Dataset) -> List[str]:
    """The class names of a dataset's metainfo.

    Args:
        dataset (Dataset): An mm dataset (or a ``Subset`` of one).

    Returns:
        list[str]: The names, indexed by label.
    """
    base = dataset.dataset if isinstance(dataset, Subset) else dataset
    classes = getattr(base, 'metainfo', {}).get('classes')
    if classes is None:
        raise ValueError(f'dataset {type(base).__name__} has no classes in '
                         'its metainfo; the analyses need class labels')
    return list(classes)


def build_dataloader(cfg: Config,
                     split: str = 'test',
                     max_samples: Optional[int] = None) -> DataLoader:
    """An in-order dataloader over a split, with the test-time pipeline.

    Args:
        cfg (Config): A model config whose default scope is entered.
        split (str): ``train``, ``val`` or ``test``. Defaults to ``test``.
        max_samples (int, optional): Keep the first ``max_samples`` images.

    Returns:
        DataLoader: Batches of the split's ``<split>_dataloader`` size.
    """
    if max_samples is not None and max_samples < 1:
        raise ValueError(f'max_samples must be positive, got {max_samples}')
    dataset = build_dataset(cfg, split)
    if max_samples is not None and max_samples < len(dataset):
        dataset = Subset(dataset, range(max_samples))
    loader_cfg = copy.deepcopy(cfg[f'{split}_dataloader'])
    loader_cfg.update(dataset=dataset, sampler=dict(type='DefaultSampler', shuffle=False))
    loader_cfg.pop('batch_sampler', None)
    if loader_cfg.get('num_workers', 0) == 0:
        loader_cfg['persistent_workers'] = False
    return Runner.build_dataloader(loader_cfg)


def iterate_batches(model: nn.Module, loader: DataLoader) -> Iterator[Tuple[Tensor, Tensor]]:
    """Preprocessed images and their labels, with a progress bar.

    Args:
        model (nn.Module): An mm model; its data preprocessor prepares the
            batches.
        loader (DataLoader): Batches of packed inputs and data samples with
            ``gt_label``.

    Yields:
        tuple[Tensor, Tensor]: Images (N, 3, H, W), ready for the backbone,
        and labels (N,).
    """
    progress = ProgressBar(len(loader.dataset))
    for batch in loader:
        data = model.data_preprocessor(batch, False)
        samples = data.get('data_samples') or []
        if len(samples) != len(data['inputs']) or not all('gt_label' in s for s in samples):
            raise ValueError('every sample needs a gt_label: the analyses take '
                             'image classification data')
        labels = torch.cat([sample.gt_label.reshape(-1)[:1] for sample in samples])
        yield data['inputs'], labels
        progress.update(len(labels))


def load_image_file(cfg: Config, path: str) -> dict:
    """Read an image file and pass it through the config's test pipeline.

    Datasets that hold decoded arrays (CIFAR, MNIST) have no loading step in
    their pipeline and store RGB; for them the file is read as RGB and given
    to the pipeline as ``img``, at its own size.

    Args:
        cfg (Config): A model config whose default scope is entered.
        path (str): The image file.

    Returns:
        dict: The packed sample: ``inputs`` (3, H, W) uint8 and
        ``data_samples``.
    """
    pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    if pipeline and pipeline[0]['type'] == 'LoadImageFromFile':
        return Compose(pipeline)(dict(img_path=path))
    image = mmcv.imread(path, flag='color', channel_order='rgb')
    if image is None:
        raise ValueError(f'cannot read an image from {path}')
    return Compose(pipeline)(dict(img=image, img_path=path, img_shape=image.shape[:2],
                                  ori_shape=image.shape[:2]))
