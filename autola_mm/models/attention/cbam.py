"""Convolutional Block Attention Module (Woo et al., "CBAM", ECCV 2018).

A channel gate ``sigmoid(MLP(avg) + MLP(max))`` (one shared MLP with biases),
then a spatial gate ``sigmoid(BN(conv7x7([max_c, mean_c])))`` computed on the
channel-gated map; the spatial conv has no bias. It is also the ``CBAM``
operation of Auto Learning Attention (Ma et al., NeurIPS 2020) at reduction 4.
"""
from typing import Optional

from mmengine.registry import MODELS
from torch import Tensor, nn

from ...ops import ops_for
from .batch_norm import AttentionBatchNorm2d
from .channel_mlp import ChannelMLP, reduced_channels
from .input_check import check_feature_map
from .layer_configs import DEFAULT_ACT_CFG, ConfigType, build_norm
from .module_hooks import has_hooks
from .same_conv import SameConv2d
from .weight_init import init_attention_weights

#: CBAM's spatial BN: momentum 0.01, as in the CBAM authors' code.
CBAM_NORM_CFG = dict(type='BN', momentum=0.01)


@MODELS.register_module()
class CBAM(nn.Module):
    """Channel then spatial gate, an mmcv plugin.

    Args:
        in_channels (int): Channels ``C`` of the input.
        rd_ratio (float): Hidden width of the channel MLP as a fraction of
            ``C`` (1 / r). Default: 1 / 16.
        rd_channels (int, optional): Explicit hidden width; overrides
            ``rd_ratio`` and ``min_rd_channels``.
        min_rd_channels (int): Lower bound of the hidden width computed from
            ``rd_ratio``. Default: 0, the authors' ``floor(C / r)``.
        kernel_size (int): Odd kernel size of the spatial conv. Default: 7.
        norm_cfg (dict): The spatial gate's norm layer. Default:
            ``dict(type='BN', momentum=0.01)``; the search uses
            ``affine=False``.
        act_cfg (dict): The MLP's activation. Default: ``dict(type='ReLU')``.
    """

    _abbr_ = 'cbam'

    def __init__(self,
                 in_channels: int,
                 rd_ratio: float = 1 / 16,
                 rd_channels: Optional[int] = None,
                 min_rd_channels: int = 0,
                 kernel_size: int = 7,
                 norm_cfg: ConfigType = CBAM_NORM_CFG,
                 act_cfg: ConfigType = DEFAULT_ACT_CFG):
        super().__init__()
        self.in_channels = in_channels
        hidden = reduced_channels(in_channels, rd_ratio, rd_channels, min_rd_channels)
        self.channel_mlp = ChannelMLP(in_channels, hidden, bias=True, act_cfg=act_cfg)
        self.spatial_conv = SameConv2d(2, 1, kernel_size)
        self.spatial_bn = build_norm(norm_cfg, 1)

    def init_weights(self) -> None:
        """Kaiming MLP and conv weights, BN weight 1 and bias 0."""
        init_attention_weights(self)

    def channel_logits(self, avg: Tensor, max_: Tensor) -> Tensor:
        """Channel logits ``MLP(avg) + MLP(max)``.

        Args:
            avg (Tensor): Average over H x W, (N, C, 1, 1).
            max_ (Tensor): Maximum over H x W, (N, C, 1, 1).

        Returns:
            Tensor: Shape (N, C, 1, 1).
        """
        return self.channel_mlp(avg, max_)

    def spatial_logits(self, pooled: Tensor) -> Tensor:
        """Spatial logits ``BN(conv(pooled))``.

        Args:
            pooled (Tensor): ``[max_c, mean_c]`` of the channel-gated map,
                (N, 2, H, W).

        Returns:
            Tensor: Shape (N, 1, H, W), in the dtype of ``pooled``.
        """
        return self.spatial_bn(self.spatial_conv(pooled)).to(pooled.dtype)

    def is_core_pattern(self) -> bool:
        """Whether the attention core's ``cbam_mlp_attention`` computes this CBAM.

        It does where the MLP is the core's ``channel_mlp`` (see
        :meth:`ChannelMLP.is_core_mlp`) and the spatial layers are a
        :class:`SameConv2d` and an :class:`AttentionBatchNorm2d` with running
        statistics (not, e.g., a SyncBN conversion), neither with hooks.
        """
        conv, bn = self.spatial_conv, self.spatial_bn
        return (self.channel_mlp.is_core_mlp() and type(conv) is SameConv2d
                and type(bn) is AttentionBatchNorm2d and bn.has_running_stats()
                and not has_hooks(conv, bn))

    def forward(self, x: Tensor) -> Tensor:
        """Gate the channels, then the positions of ``x``: one pattern of the attention core.

        A CBAM whose layers the core computes (:meth:`is_core_pattern`) is one
        ``cbam_mlp_attention``; any other is a ``cbam_attention`` of its
        :meth:`channel_logits` and :meth:`spatial_logits`.

        Args:
            x (Tensor): Shape (N, C, H, W).

        Returns:
            Tensor: ``x * sigmoid(channel) * sigmoid(spatial)``, (N, C, H, W).
        """
        check_feature_map(x, self.in_channels)
        ops = ops_for(x)
        if self.is_core_pattern():
            fc1, fc2 = self.channel_mlp.fc1, self.channel_mlp.fc2
            return ops.cbam_mlp_attention(x, fc1.weight, fc1.bias, fc2.weight, fc2.bias,
                                          self.spatial_conv.weight,
                                          *self.spatial_bn.core_arguments())
        return ops.cbam_attention(x, self.channel_logits, self.spatial_logits,
                                  tuple(self.parameters()))
