"""Class selectivity index of every channel (Morcos et al., ICLR 2018).

AutoLA's supplement (Ma et al., NeurIPS 2020, section 4 of the method page)
compares how class-selective the channels of plain, SE, CBAM and HOGA
networks are, stage by stage. A channel's index is

    (mu_max - mu_rest) / (mu_max + mu_rest)

where ``mu_k`` is the channel's spatially averaged activation averaged over
the images of class ``k``, ``mu_max`` the largest of them and ``mu_rest`` the
mean of the other classes' ``mu_k``. For activations after a ReLU it lies in
[0, 1]: 0 when every class excites the channel equally, 1 when only one does.
"""
from typing import Dict

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from .stages import stage_outputs


def class_selectivity_index(class_means: Tensor) -> Tensor:
    """Selectivity index of every channel from its class-conditional means.

    A channel silent for every class (all means 0) has index 0: no class
    excites it more than the others.

    Args:
        class_means (Tensor): Shape (K, C), the mean activation of each of
            ``K >= 2`` classes for each of ``C`` channels; non-negative.

    Returns:
        Tensor: Shape (C,), values in [0, 1], dtype of ``class_means``.
    """
    if class_means.dim() != 2:
        raise ValueError('class_means must have shape (classes, channels), '
                         f'got shape {tuple(class_means.shape)}')
    num_classes = class_means.shape[0]
    if num_classes < 2:
        raise ValueError('class selectivity compares classes: it needs at '
                         f'least 2 classes, got {num_classes}')
    lowest = class_means.min().item()
    if lowest < 0:
        raise ValueError('class selectivity is defined for non-negative '
                         f'activations (after a ReLU); got a class mean of '
                         f'{lowest:.4g}')
    mu_max = class_means.max(dim=0).values
    mu_rest = (class_means.sum(dim=0) - mu_max) / (num_classes - 1)
    denominator = mu_max + mu_rest
    index = (mu_max - mu_rest) / denominator.clamp_min(
        torch.finfo(class_means.dtype).tiny)
    return torch.where(denominator > 0, index, torch.zeros_like(index))


class ClassMeanAccumulator:
    """Streams class-conditional channel means of feature maps.

    Keeps one (K, C) sum and one (K,) count, so memory does not grow with the
    number of images.

    Args:
        num_classes (int): Number of classes ``K`` of the labels.
    """

    def __init__(self, num_classes: int):
        if num_classes < 2:
            raise ValueError('class selectivity needs at least 2 classes, got '
                             f'num_classes={num_classes}')
        self.num_classes = num_classes
        self.sums = None
        self.counts = torch.zeros(num_classes, dtype=torch.float64)

    def update(self, features: Tensor, labels: Tensor) -> None:
        """Add a batch of feature maps.

        Args:
            features (Tensor): Shape (N, C, H, W) or (N, C); averaged over
                the positions.
            labels (Tensor): Shape (N,), integer classes in [0, K).
        """
        if features.shape[0] != labels.shape[0]:
            raise ValueError(f'{features.shape[0]} feature maps but '
                             f'{labels.shape[0]} labels')
        if labels.numel() and not 0 <= int(labels.min()) <= int(
                labels.max()) < self.num_classes:
            raise ValueError(f'labels must lie in [0, {self.num_classes}), '
                             f'got {labels.min().item()}..{labels.max().item()}')
        pooled = features.detach().reshape(*features.shape[:2], -1).mean(dim=2)
        pooled = pooled.to(torch.float64).cpu()
        if self.sums is None:
            self.sums = torch.zeros(self.num_classes, pooled.shape[1],
                                    dtype=torch.float64)
        labels = labels.long().cpu()
        self.sums.index_add_(0, labels, pooled)
        self.counts.index_add_(0, labels, torch.ones_like(labels, dtype=torch.float64))

    def class_means(self) -> Tensor:
        """Means of the classes seen so far.

        Returns:
            Tensor: Shape (K', C) for the ``K'`` classes with at least one
            image, float64.
        """
        if self.sums is None:
            raise ValueError('no features were accumulated')
        seen = self.counts > 0
        return self.sums[seen] / self.counts[seen, None]

    def selectivity(self) -> Tensor:
        """Selectivity index over the classes seen so far.

        Returns:
            Tensor: Shape (C,), float64.
        """
        return class_selectivity_index(self.class_means())


def measure_class_selectivity(model: nn.Module, loader: DataLoader,
                              stages: Dict[str, nn.Module],
                              num_classes: int) -> Dict[str, Tensor]:
    """Selectivity index of every channel of every stage over a dataset.

    Classes without images in ``loader`` are left out of ``mu_rest``.

    Args:
        model (nn.Module): An mm classifier in eval mode.
        loader (DataLoader): Batches with ``gt_label`` data samples.
        stages (dict[str, nn.Module]): Stage name to module, from
            :func:`~autola_mm.analysis.stages.select_stages`.
        num_classes (int): Number of classes of the labels.

    Returns:
        dict[str, Tensor]: Stage name to its (C,) index, float64.
    """
    accumulators = {name: ClassMeanAccumulator(num_classes) for name in stages}
    for outputs, labels in stage_outputs(model, loader, stages):
        for name, accumulator in accumulators.items():
            accumulator.update(outputs[name], labels)
    return {name: accumulator.selectivity() for name, accumulator in accumulators.items()}
