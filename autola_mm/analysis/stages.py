"""The residual stages of a model's backbone and forward hooks on them.

The analyses of AutoLA's supplement (Ma et al., NeurIPS 2020) look at the
output of every stage: ``layer1..layer4`` of an ImageNet ResNet,
``layer1..layer3`` of a CIFAR ResNet. Stages are the backbone's children named
``layer<number>``, as in torchvision, mmpretrain, mmdet and our backbones.
"""
import re
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from .data import iterate_batches
from .input_errors import AnalysisInputError

_STAGE_NAME = re.compile(r'^layer(\d+)$')


def backbone_stages(model: nn.Module) -> 'OrderedDict[str, nn.Module]':
    """The backbone's stages in order.

    Args:
        model (nn.Module): A model with a ``backbone`` attribute.

    Returns:
        OrderedDict[str, nn.Module]: Stage name (``layer1``, ...) to module,
        ordered by stage number.
    """
    backbone = getattr(model, 'backbone', None)
    if backbone is None:
        raise AnalysisInputError(f'{type(model).__name__} has no backbone: the '
                         'analyses hook the stages of model.backbone')
    stages = [(int(match.group(1)), name, module)
              for name, module in backbone.named_children()
              if (match := _STAGE_NAME.match(name))]
    if not stages:
        raise AnalysisInputError(f'backbone {type(backbone).__name__} has no stages '
                         'named layer1, layer2, ...')
    return OrderedDict((name, module) for _, name, module in sorted(stages))


def is_stage_name(name: str) -> bool:
    """Whether ``name`` names a stage (``layer<number>``)."""
    return _STAGE_NAME.match(name) is not None


def select_stages(model: nn.Module,
                  names: Optional[Sequence[str]] = None) -> 'OrderedDict[str, nn.Module]':
    """The named stages of the model's backbone, or all of them.

    Args:
        model (nn.Module): A model with a ``backbone`` attribute.
        names (Sequence[str], optional): Stage names such as ``layer3``;
            None selects every stage.

    Returns:
        OrderedDict[str, nn.Module]: Stage name to module, in the order of
        ``names`` (stage order when ``names`` is None).
    """
    stages = backbone_stages(model)
    if names is None:
        return stages
    unknown = [name for name in names if name not in stages]
    if unknown:
        raise AnalysisInputError(f'no stage {", ".join(unknown)} in backbone '
                       f'{type(model.backbone).__name__}; its stages are '
                       f'{", ".join(stages)}')
    return OrderedDict((name, stages[name]) for name in names)


class StageOutputs:
    """Records the outputs of modules during forward passes.

    A context manager: the forward hooks live inside the ``with`` block only.

    Example:
        >>> with StageOutputs(select_stages(model, ['layer3'])) as recorder:
        ...     model.backbone(images)
        >>> recorder.outputs['layer3'].shape
        torch.Size([8, 64, 8, 8])

    Args:
        modules (dict[str, nn.Module]): Name to module whose output to keep.
    """

    def __init__(self, modules: Dict[str, nn.Module]):
        self.modules = modules
        self.outputs: Dict[str, Tensor] = {}
        self._handles: List = []

    def _hook(self, name: str):

        def keep_output(module: nn.Module, inputs, output: Tensor) -> None:
            self.outputs[name] = output

        return keep_output

    def __enter__(self) -> 'StageOutputs':
        self._handles = [
            module.register_forward_hook(self._hook(name))
            for name, module in self.modules.items()
        ]
        return self

    def __exit__(self, *exc_info) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


def stage_outputs(model: nn.Module, loader: DataLoader,
                  stages: Dict[str, nn.Module]) -> Iterator[Tuple[Dict[str, Tensor], Tensor]]:
    """Run the backbone over a dataloader and yield the stages' outputs.

    Args:
        model (nn.Module): An mm classifier in eval mode.
        loader (DataLoader): Batches with ``gt_label`` data samples.
        stages (dict[str, nn.Module]): Stages to record, from
            :func:`select_stages`.

    Yields:
        tuple[dict[str, Tensor], Tensor]: Stage name to its output
        (N, C, H, W), and the labels (N,) of the batch.
    """
    with StageOutputs(stages) as recorder:
        for images, labels in iterate_batches(model, loader):
            with torch.no_grad():
                model.backbone(images)
            yield dict(recorder.outputs), labels
