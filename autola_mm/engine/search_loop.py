"""The epoch loop of the AutoLA search (Ma et al., NeurIPS 2020).

As in DARTS, the training set is split once into two fixed halves: one trains
the network weights, the other (the "validation" half) trains the
architecture. Every iteration hands the model one batch of each half,
``dict(train=..., val=...)``, for :meth:`HOGASearchClassifier.train_step`.
"""
import copy
import random
from typing import Dict, List, Sequence

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.registry import DATASETS, LOOPS
from mmengine.runner import EpochBasedTrainLoop
from mmengine.runner.utils import set_random_seed
from torch.utils.data import DataLoader, Dataset, Subset


def split_indices(num_samples: int, train_portion: float, seed: int) -> List[List[int]]:
    """Shuffle ``range(num_samples)`` with ``seed`` and cut it in two.

    Args:
        num_samples (int): Size of the training set.
        train_portion (float): Fraction that trains the weights, in (0, 1).
        seed (int): Seed of the shuffle; the same seed gives the same halves.

    Returns:
        list[list[int]]: The weight-training and the architecture indices.
    """
    if isinstance(train_portion, bool) or not isinstance(train_portion, (int, float)) \
            or not 0 <= train_portion <= 1:
        raise ValueError(f'train_portion={train_portion!r}: expected the fraction of the '
                         'training set that trains the weights, in (0, 1)')
    cut = int(num_samples * train_portion)
    for name, size in (('weight-training', cut), ('architecture (validation)',
                                                   num_samples - cut)):
        if size == 0:
            raise ValueError(f'train_portion={train_portion} of {num_samples} samples leaves the '
                             f'{name} split empty: the search needs samples in both halves')
    order = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed)).tolist()
    return [order[:cut], order[cut:]]


def seed_worker_from_torch(worker_id: int, rank: int = 0) -> None:
    """Seed ``random`` and NumPy in a data-loading worker from the seed torch gave it.

    torch seeds worker ``worker_id`` with ``base + worker_id``, ``base`` drawn
    from the main process's generator as each epoch's iterator starts. After
    :func:`set_random_seed` with ``seed + epoch``, a worker's augmentations
    depend on the epoch alone (mmengine's own worker seed, ``seed + worker``,
    is the same every epoch); ``rank`` (the process's) keeps the workers of
    different processes apart.
    """
    seed = int(np.random.SeedSequence([torch.initial_seed() % 2**32, rank]).generate_state(1)[0])
    random.seed(seed)
    np.random.seed(seed)


def _subset(dataset: Dataset, indices: Sequence[int]) -> Dataset:
    """The samples ``indices`` of ``dataset``, keeping mmengine's metainfo."""
    if hasattr(dataset, 'get_subset'):
        return dataset.get_subset(list(indices))
    return Subset(dataset, list(indices))


@LOOPS.register_module()
class AutoLASearchLoop(EpochBasedTrainLoop):
    """Alternate architecture and weight steps over two fixed halves of a dataset.

    An epoch pairs the batches of the two halves until one is exhausted.
    Every epoch starts by seeding the random generators with ``seed + epoch``
    (the runner's seed) and starts its data-loading workers anew, seeded from
    them (:func:`seed_worker_from_torch`), so a search resumed from a
    checkpoint draws the same augmentations as one that was never stopped:
    the dataloader config may not ask for persistent workers or a
    ``worker_init_fn`` of its own.

    Args:
        runner (Runner): The runner.
        dataloader (dict): Dataloader config of the whole training set; both
            halves use it (batch size, sampler, workers, pipeline).
        max_epochs (int): Number of epochs.
        train_portion (float): Fraction of the training set that trains the
            weights; the rest trains the architecture. Default: 0.5.
        split_seed (int): Seed of the split. Default: 0.
        val_begin (int): First epoch after which ``val_cfg`` runs. Default: 1.
        val_interval (int): Epochs between validations. Default: 1.
    """

    def __init__(self,
                 runner,
                 dataloader: Dict,
                 max_epochs: int,
                 train_portion: float = 0.5,
                 split_seed: int = 0,
                 val_begin: int = 1,
                 val_interval: int = 1) -> None:
        if not isinstance(dataloader, dict):
            raise ValueError('AutoLASearchLoop splits the training set itself: give '
                             'train_dataloader as a config dict, not a '
                             f'{type(dataloader).__name__}')
        weight_loader, arch_loader = self._build_split_loaders(
            runner, dataloader, train_portion, split_seed)
        super().__init__(runner, weight_loader, max_epochs, val_begin, val_interval)
        self.arch_dataloader = arch_loader
        self.train_portion = train_portion
        self.split_seed = split_seed
        if self.iters_per_epoch == 0:
            sizes = [len(loader.dataset) for loader in (weight_loader, arch_loader)]
            raise ValueError(f'the split halves ({sizes[0]} and {sizes[1]} samples) give no '
                             'full pair of batches: lower the batch size or drop_last')
        self._max_iters = self._max_epochs * self.iters_per_epoch

    @staticmethod
    def _build_split_loaders(runner, dataloader: Dict, train_portion: float,
                             split_seed: int) -> List[DataLoader]:
        cfg = copy.deepcopy(dataloader)
        if cfg.get('persistent_workers') and cfg.get('num_workers', 0) > 0:
            raise ValueError('AutoLASearchLoop starts its data-loading workers anew every epoch, '
                             'seeded from the epoch, so that a resumed search draws the '
                             'augmentations of one never stopped: set persistent_workers=False '
                             'in train_dataloader')
        if 'worker_init_fn' in cfg:
            raise ValueError('AutoLASearchLoop seeds its data-loading workers itself '
                             '(seed_worker_from_torch): remove worker_init_fn from '
                             'train_dataloader')
        cfg['worker_init_fn'] = dict(type=seed_worker_from_torch, rank=get_rank())
        dataset = cfg.pop('dataset')
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        if hasattr(dataset, 'full_init'):
            dataset.full_init()
        halves = split_indices(len(dataset), train_portion, split_seed)
        diff_rank_seed = runner._randomness_cfg.get('diff_rank_seed', False)
        return [
            runner.build_dataloader(dict(cfg, dataset=_subset(dataset, indices)),
                                    seed=runner.seed + i, diff_rank_seed=diff_rank_seed)
            for i, indices in enumerate(halves)
        ]

    @property
    def iters_per_epoch(self) -> int:
        """int: Pairs of batches per epoch (the shorter half's batch count)."""
        return min(len(self.dataloader), len(self.arch_dataloader))

    def run_epoch(self) -> None:
        """Iterate one epoch over pairs of (weight batch, architecture batch)."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        set_random_seed(self.runner.seed + self._epoch)
        for loader in (self.dataloader, self.arch_dataloader):
            if hasattr(loader.sampler, 'set_epoch'):
                loader.sampler.set_epoch(self._epoch)
        for idx, (train_batch, val_batch) in enumerate(zip(self.dataloader,
                                                            self.arch_dataloader)):
            self.run_iter(idx, dict(train=train_batch, val=val_batch))
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
