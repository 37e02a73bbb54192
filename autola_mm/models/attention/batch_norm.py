"""The batch norm of the attention modules, on the attention core.

:class:`AttentionBatchNorm2d` is an ``nn.BatchNorm2d``: the same arguments,
parameters, buffers and state-dict keys, and a ``_BatchNorm`` to everything
that looks for one (SyncBN conversion, mmcv's conv-BN fusion, norm weight
decay rules). Its forward runs the attention core's ``batch_norm`` on the
path :func:`autola_mm.ops.ops_for` gives its input: the
``autola_mm::batch_norm`` operator on the compiled path (on the CPU its
forward is about 3 times faster than ATen's at the maps of HOGA's gates,
64x4x32x32: 169 -> 55 us), ``F.batch_norm`` on the reference path, in ONNX
export and under ``torch.compile``. In training the operator also adds 1 to
``num_batches_tracked`` (on the CPU without an operator call of its own),
except with ``momentum=None``, whose cumulative average reads the count first.
:func:`.layer_configs.build_norm` builds it for ``dict(type='BN')``.

:func:`norm_act` runs a norm layer and the activation after it; an
:class:`AttentionBatchNorm2d` followed by an ``nn.ReLU`` runs as one call of
the attention core's ``batch_norm`` with ``relu=True`` (on the CPU one kernel
each way, the ReLU in the BN's output pass and its mask in the BN's
backward; on CUDA ATen's BN kernels and ReLU; on the reference path
``F.batch_norm`` and ``F.relu``). The modules stay two, so that SyncBN
conversion and conv-BN fusion, which replace the BN, leave the ReLU in place;
modules with hooks run as themselves, so that every hook sees what it would
see without the fusion.
"""
from typing import NamedTuple, Optional

from torch import Tensor, nn
from torch.nn import functional as F

from ...ops import ops_for
from .module_hooks import has_hooks


class CoreBatchNormArguments(NamedTuple):
    """The arguments of one call of the attention core's ``batch_norm`` after its input."""

    weight: Optional[Tensor]
    bias: Optional[Tensor]
    running_mean: Tensor
    running_var: Tensor
    training: bool
    momentum: float
    eps: float
    num_batches_tracked: Optional[Tensor]


class AttentionBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose forward runs on the attention core.

    The arguments are ``nn.BatchNorm2d``'s. A layer without running statistics
    (``track_running_stats=False``, or ``running_mean`` set to None), which
    normalises with the batch's statistics in evaluation too, runs
    ``nn.BatchNorm2d``'s own forward.
    """

    def has_running_stats(self) -> bool:
        """Whether the layer runs on the attention core (it has running statistics)."""
        return (self.track_running_stats and self.running_mean is not None
                and self.running_var is not None)

    def core_arguments(self) -> CoreBatchNormArguments:
        """The core ``batch_norm``'s arguments for one call, in the layer's mode.

        With ``momentum=None`` in training this counts the batch first (the
        cumulative average weighs it by the count that includes it) and hands
        the operator no counter; otherwise the operator counts.
        """
        momentum = 0.0 if self.momentum is None else self.momentum
        counter = self.num_batches_tracked
        if self.training and self.momentum is None and counter is not None:
            counter.add_(1)
            momentum = 1.0 / float(counter)
            counter = None
        return CoreBatchNormArguments(self.weight, self.bias, self.running_mean,
                                      self.running_var, self.training, momentum, self.eps,
                                      counter)

    def forward(self, x: Tensor, relu: bool = False) -> Tensor:
        """Normalise with the batch's statistics in training (and update the running ones).

        Args:
            x (Tensor): Shape (N, C, H, W).
            relu (bool): Apply ReLU to the result (in the same operator where
                the layer has running statistics). Default: False.

        Returns:
            Tensor: Shape (N, C, H, W).
        """
        if not self.has_running_stats():
            out = super().forward(x)
            return F.relu(out) if relu else out
        self._check_input_dim(x)
        args = self.core_arguments()
        return ops_for(x).batch_norm(x, args.weight, args.bias, args.running_mean,
                                     args.running_var, args.training, args.momentum, args.eps,
                                     relu, args.num_batches_tracked)


def norm_act(norm: nn.Module, act: nn.Module, x: Tensor) -> Tensor:
    """``act(norm(x))``: one call for an :class:`AttentionBatchNorm2d` and an ``nn.ReLU``.

    Args:
        norm (nn.Module): The norm layer.
        act (nn.Module): The activation after it.
        x (Tensor): Shape (N, C, H, W).

    Returns:
        Tensor: Shape (N, C, H, W).
    """
    if type(norm) is AttentionBatchNorm2d and type(act) is nn.ReLU and not has_hooks(norm, act):
        return norm(x, relu=True)
    return act(norm(x))

