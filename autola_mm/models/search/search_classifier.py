"""The search model of Auto Learning Attention (Ma et al., NeurIPS 2020).

A classifier (backbone, global average pooling, linear layer) whose backbone
holds :class:`SearchHOGA` cells, and the architecture matrix ``alpha`` that
all of them share. As DARTS' network hands the mixing weights to its cells,
its forward calls ``backbone(inputs, softmax(alpha))`` and the backbone hands
them to every cell. :meth:`HOGASearchClassifier.train_step` performs one
bi-level step of DARTS (Liu et al., ICLR 2019): an architecture step on a
validation batch (first-order, or second-order with ``unrolled=True``), then
a weight step on a training batch. The optimizers come in an
``OptimWrapperDict`` with the keys ``'architecture'`` and ``'weights'``.
"""
import inspect
from contextlib import contextmanager
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce_params
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.registry import MODELS
from torch import Tensor, nn

from ..attention import PRIMITIVES, Genotype
from .derivation import derive_genotype
from .search_hoga import SearchHOGA
from .unrolled import VirtualStep, unrolled_architecture_grad

OPTIMIZER_NAMES = ('architecture', 'weights')
BATCH_NAMES = ('train', 'val')


def _labels(data_samples: Sequence) -> Tensor:
    """The ``gt_label`` of every data sample as one long tensor of shape (N, )."""
    if not data_samples:
        raise ValueError('the batch has no data samples: the search needs labels '
                         '(data samples with a gt_label, e.g. from PackInputs)')
    return torch.cat([torch.as_tensor(s.gt_label).reshape(-1) for s in data_samples]).long()


def _accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """Top-1 accuracy in percent."""
    return (logits.detach().argmax(dim=1) == labels).float().mean() * 100


@contextmanager
def _not_requiring_grad(parameters: Iterable[nn.Parameter]) -> Iterator[None]:
    """Run the block with ``parameters`` not requiring grad; their flags return after it.

    A graph built inside reaches none of them, as if they entered detached,
    for two flag writes per parameter.
    """
    frozen = [p for p in parameters if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)


@MODELS.register_module()
class HOGASearchClassifier(BaseModel):
    """Image classifier that searches the HOGA cells of its backbone.

    Args:
        backbone (dict | nn.Module): The supernet backbone, called as
            ``backbone(inputs, mixing_weights)``, e.g. ``PluginCifarResNet``
            with a ``SearchHOGA`` plugin at ``after_conv2`` (its blocks hand
            the weights to their plugins); it must hold at least one
            :class:`SearchHOGA`, all with the same number of groups.
        num_classes (int): Number of classes.
        in_channels (int, optional): Channels of the backbone's last output;
            None reads ``backbone.out_channels[-1]``.
        unrolled (bool): Second-order architecture gradient (DARTS'
            unrolled step with a finite-difference Hessian-vector product)
            instead of the first-order one. Default: False.
        hessian_radius (float): How far the weights move in the finite
            differences of the unrolled gradient. Default: 0.01.
        alpha_std (float): ``alpha`` starts at ``alpha_std * randn``.
            Default: 1e-3.
        data_preprocessor (dict, optional): Normalisation of the images,
            e.g. ``dict(type='ImgDataPreprocessor', mean=..., std=...)``.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 backbone: Union[dict, nn.Module],
                 num_classes: int,
                 in_channels: Optional[int] = None,
                 unrolled: bool = False,
                 hessian_radius: float = 1e-2,
                 alpha_std: float = 1e-3,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone) if isinstance(backbone, dict) else backbone
        self.cells: List[SearchHOGA] = [
            m for m in self.backbone.modules() if isinstance(m, SearchHOGA)
        ]
        if not self.cells:
            raise ValueError('the backbone holds no SearchHOGA: add the plugin, e.g. '
                             "plugins=[dict(cfg=dict(type='SearchHOGA'), "
                             "position='after_conv2')]")
        edge_counts = sorted({len(cell.edges) for cell in self.cells})
        if len(edge_counts) > 1:
            raise ValueError(f'the SearchHOGA cells have {edge_counts} edges: one alpha is '
                             'shared by all cells, so they need the same groups')
        if in_channels is None:
            if not hasattr(self.backbone, 'out_channels'):
                raise ValueError(f'{type(self.backbone).__name__} has no out_channels: pass '
                                 'in_channels, the channels of its last output')
            in_channels = self.backbone.out_channels[-1]
        try:
            inspect.signature(self.backbone.forward).bind(None, None)
        except TypeError:
            raise ValueError(f'{type(self.backbone).__name__}.forward takes no mixing weights: '
                             'a search backbone is called as backbone(inputs, mixing_weights) '
                             'and hands them to its SearchHOGA plugins, as PluginCifarResNet '
                             'does') from None
        self.fc = nn.Linear(in_channels, num_classes)
        self.alpha = nn.Parameter(alpha_std * torch.randn(edge_counts[0], len(PRIMITIVES)))
        self.unrolled = unrolled
        self.hessian_radius = hessian_radius

    def genotype(self) -> Genotype:
        """The HOGA genotype ``alpha`` derives (strongest non-``none`` op per edge)."""
        return derive_genotype(self.alpha)

    def parameter_groups(self) -> Dict[str, List[nn.Parameter]]:
        """The parameters of the two optimizers.

        Returns:
            dict[str, list[nn.Parameter]]: ``'architecture'``: ``[alpha]``;
            ``'weights'``: every other trainable parameter.
        """
        weights = [p for p in self.parameters() if p.requires_grad and p is not self.alpha]
        return dict(architecture=[self.alpha], weights=weights)

    def extract_feat(self, inputs: Tensor, mixing_weights: Tensor) -> Tensor:
        """Globally pooled features of the backbone's last output.

        Args:
            inputs (Tensor): Images (N, 3, H, W).
            mixing_weights (Tensor): Weights of every cell's edges
                (edges, len(PRIMITIVES)).

        Returns:
            Tensor: Shape (N, in_channels).
        """
        feats = self.backbone(inputs, mixing_weights)
        if isinstance(feats, (list, tuple)):
            feats = feats[-1]
        return feats.mean(dim=(2, 3))

    def logits(self, inputs: Tensor, mixing_weights: Optional[Tensor] = None) -> Tensor:
        """Class scores.

        Args:
            inputs (Tensor): Images (N, 3, H, W).
            mixing_weights (Tensor, optional): Edge weights; None uses
                ``softmax(alpha)``.

        Returns:
            Tensor: Shape (N, num_classes).
        """
        if mixing_weights is None:
            mixing_weights = self.alpha.softmax(dim=-1)
        return self.fc(self.extract_feat(inputs, mixing_weights))

    def forward(self, inputs: Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """``'tensor'``: logits; ``'loss'``: cross entropy; ``'predict'``: samples.

        Args:
            inputs (Tensor): Normalised images (N, 3, H, W).
            data_samples (list, optional): Samples with ``gt_label`` (for
                ``'loss'``) or to receive ``pred_score`` and ``pred_label``.
            mode (str): ``'tensor'``, ``'loss'`` or ``'predict'``.

        Returns:
            Tensor | dict | list: Logits (N, num_classes), ``dict(loss=...)``
            or the data samples with their predictions.
        """
        if mode == 'tensor':
            return self.logits(inputs)
        if mode == 'loss':
            return dict(loss=F.cross_entropy(self.logits(inputs), _labels(data_samples)))
        if mode == 'predict':
            scores = self.logits(inputs).softmax(dim=1)
            for sample, score in zip(data_samples, scores):
                sample.set_field(score, 'pred_score')
                sample.set_field(score.argmax(dim=0, keepdim=True), 'pred_label')
            return data_samples
        raise ValueError(f'mode={mode!r}: expected "tensor", "loss" or "predict"')

    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> Dict[str, Tensor]:
        """One bi-level step: architecture on ``data['val']``, weights on ``data['train']``.

        Args:
            data (dict): ``dict(train=batch, val=batch)``, each batch as a
                dataloader yields it.
            optim_wrapper (OptimWrapperDict): Wrappers ``'architecture'``
                (over ``alpha``) and ``'weights'`` (over the network).

        Returns:
            dict[str, Tensor]: ``loss`` and ``accuracy`` of the weight step,
            ``loss_arch`` and ``accuracy_arch`` of the architecture step.
        """
        if not isinstance(data, dict) or sorted(data) != sorted(BATCH_NAMES):
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f'a search step takes dict(train=batch, val=batch); got {keys} '
                             '(run the search with the AutoLASearchLoop)')
        missing = [name for name in OPTIMIZER_NAMES if name not in optim_wrapper]
        if missing:
            raise KeyError(f'optim_wrapper lacks {missing}: the search needs an '
                           f'OptimWrapperDict with {list(OPTIMIZER_NAMES)} (built by '
                           'SearchOptimWrapperConstructor)')
        train = self.data_preprocessor(data['train'], True)
        val = self.data_preprocessor(data['val'], True)
        log_vars = self._architecture_step(train, val, optim_wrapper)
        log_vars.update(self._weight_step(train, optim_wrapper['weights']))
        return log_vars

    def _architecture_step(self, train: dict, val: dict,
                           optim_wrapper: OptimWrapperDict) -> Dict[str, Tensor]:
        wrapper: OptimWrapper = optim_wrapper['architecture']
        val_labels = _labels(val['data_samples'])
        records = {}

        def val_loss() -> Tensor:
            logits = self.logits(val['inputs'])
            records.update(loss_arch=F.cross_entropy(logits, val_labels),
                           accuracy_arch=_accuracy(logits, val_labels))
            return records['loss_arch']

        with wrapper.optim_context(self):
            if self.unrolled:
                train_labels = _labels(train['data_samples'])
                weights = self.parameter_groups()['weights']
                grad = unrolled_architecture_grad(
                    self.alpha, weights,
                    lambda: F.cross_entropy(self.logits(train['inputs']), train_labels),
                    val_loss, VirtualStep.of_sgd(optim_wrapper['weights'].optimizer, weights),
                    self.hessian_radius)
                # The gradient enters as that of <alpha, grad>, through the wrapper:
                # one that scales losses (AmpOptimWrapper) scales it too, and its
                # step unscales it.
                wrapper.backward((self.alpha * grad).sum(), inputs=[self.alpha])
            else:
                # The weights enter without requiring grad, so the backward
                # computes no weight gradients (it would discard them).
                with _not_requiring_grad(self.parameter_groups()['weights']):
                    loss_arch = val_loss()
                wrapper.backward(loss_arch, inputs=[self.alpha])
        all_reduce_params([self.alpha.grad], op='mean')
        wrapper.step()
        wrapper.zero_grad()
        return {key: value.detach() for key, value in records.items()}

    def _weight_step(self, train: dict, wrapper: OptimWrapper) -> Dict[str, Tensor]:
        labels = _labels(train['data_samples'])
        with wrapper.optim_context(self):
            logits = self.logits(train['inputs'], self.alpha.detach().softmax(dim=-1))
            loss = F.cross_entropy(logits, labels)
        wrapper.zero_grad()
        wrapper.backward(loss)
        # A generator: on one process all_reduce_params returns before walking the
        # supernet's thousands of parameters.
        all_reduce_params(self._weight_grads(), op='mean')
        wrapper.step()
        wrapper.zero_grad()
        return dict(loss=loss.detach(), accuracy=_accuracy(logits, labels))

    def _weight_grads(self) -> Iterator[Tensor]:
        """The gradients of the weights (not ``alpha``) that have one."""
        for p in self.parameter_groups()['weights']:
            if p.grad is not None:
                yield p.grad

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        key = prefix + 'alpha'
        if key in state_dict and state_dict[key].shape != self.alpha.shape:
            raise ValueError(f'{key} of shape {tuple(state_dict[key].shape)} does not fit this '
                             f'search space: expected {tuple(self.alpha.shape)} (edges of a '
                             f'{self.cells[0].groups}-group HOGA, {len(PRIMITIVES)} primitives)')
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
