"""Squeeze-and-Excitation (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018).

``SE`` gates every channel of ``x`` with ``sigmoid(MLP(avg_pool(x)))``. With
``with_max_pool=True`` it is the ``SE_A_M`` operation of Auto Learning
Attention (Ma et al., NeurIPS 2020): ``sigmoid(MLP(avg) + MLP(max))`` through
one shared MLP. Both MLPs have no biases, as in the AutoLA authors' code.
"""
from typing import Optional

import torch
from mmengine.registry import MODELS
from torch import Tensor, nn

from ...ops import ops_for
from .channel_mlp import ChannelMLP, reduced_channels
from .input_check import check_feature_map
from .layer_configs import DEFAULT_ACT_CFG, ConfigType
from .module_hooks import has_hooks
from .weight_init import init_attention_weights


class _HalfGate(torch.autograd.Function):
    """``x * 0.5``, the gate of a zero-width SE, whose empty weights get empty gradients.

    The weights stay in the graph, as they are through the MLP, so that
    DistributedDataParallel and the optimizers see every parameter used.
    """

    @staticmethod
    def forward(ctx, x: Tensor, *empty_weights: Tensor) -> Tensor:
        ctx.empty_weights = [(w.shape, w.dtype, w.device) for w in empty_weights]
        return x * 0.5

    @staticmethod
    def backward(ctx, grad: Tensor):
        empty = (torch.empty(shape, dtype=dtype, device=device)  # no element to fill
                 for shape, dtype, device in ctx.empty_weights)
        return (grad * 0.5, *empty)


@MODELS.register_module()
class SE(nn.Module):
    """Squeeze-and-Excitation channel gate, an mmcv plugin.

    Args:
        in_channels (int): Channels ``C`` of the input.
        rd_ratio (float): Hidden width as a fraction of ``C`` (1 / r).
            Default: 1 / 16.
        rd_channels (int, optional): Explicit hidden width; overrides
            ``rd_ratio`` and ``min_rd_channels``.
        min_rd_channels (int): Lower bound of the hidden width computed from
            ``rd_ratio``. Default: 0, the authors' ``floor(C / r)``.
        with_max_pool (bool): Also pass the max-pooled descriptor through the
            same MLP and sum the logits (AutoLA's ``SE_A_M``). Default: False.
        act_cfg (dict): The MLP's activation. Default: ``dict(type='ReLU')``.
    """

    _abbr_ = 'se'

    def __init__(self,
                 in_channels: int,
                 rd_ratio: float = 1 / 16,
                 rd_channels: Optional[int] = None,
                 min_rd_channels: int = 0,
                 with_max_pool: bool = False,
                 act_cfg: ConfigType = DEFAULT_ACT_CFG):
        super().__init__()
        self.in_channels = in_channels
        self.with_max_pool = with_max_pool
        hidden = reduced_channels(in_channels, rd_ratio, rd_channels, min_rd_channels)
        self.mlp = ChannelMLP(in_channels, hidden, bias=False, act_cfg=act_cfg)

    def init_weights(self) -> None:
        """Kaiming MLP weights."""
        init_attention_weights(self)

    def channel_logits(self, avg: Tensor, max_: Tensor) -> Tensor:
        """Channel logits from the pooled descriptors.

        Args:
            avg (Tensor): Average over H x W, (N, C, 1, 1).
            max_ (Tensor): Maximum over H x W, (N, C, 1, 1); read only
                ``with_max_pool``.

        Returns:
            Tensor: ``MLP(avg)`` or ``MLP(avg) + MLP(max)``, (N, C, 1, 1).
        """
        return self.mlp(avg, max_ if self.with_max_pool else None)

    def forward(self, x: Tensor) -> Tensor:
        """Gate the channels of ``x``: one pattern of the attention core.

        An MLP that the core's ``channel_mlp`` computes (ReLU, no hooks; see
        :meth:`ChannelMLP.is_core_mlp`) makes SE one ``channel_mlp_attention``;
        any other is the logit network of a ``channel_attention``.

        A zero-width MLP (``floor(C * rd_ratio) = 0``, e.g. HOGA's group SE
        at C = 16) has empty weights and no biases: its logits are 0 for every
        input, the gate ``sigmoid(0)`` is exactly 1/2, and :class:`_HalfGate`
        gives the same numbers without pooling ``x`` or running the MLP (unless
        the MLP or its layers have hooks, which then run).

        Args:
            x (Tensor): Shape (N, C, H, W).

        Returns:
            Tensor: ``x * sigmoid(logits)``, shape (N, C, H, W).
        """
        check_feature_map(x, self.in_channels)
        if self.mlp.fc1.out_features == 0 and not has_hooks(
                self.mlp, self.mlp.fc1, self.mlp.act, self.mlp.fc2):
            return _HalfGate.apply(x, *self.parameters())
        ops = ops_for(x)
        if self.mlp.is_core_mlp():
            fc1, fc2 = self.mlp.fc1, self.mlp.fc2
            return ops.channel_mlp_attention(x, fc1.weight, fc1.bias, fc2.weight, fc2.bias,
                                             self.with_max_pool)
        return ops.channel_attention(x, self.channel_logits, tuple(self.parameters()))
