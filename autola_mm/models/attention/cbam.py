"""Convolutional Block Attention Module (Woo et al., "CBAM", ECCV 2018).

A channel gate ``sigmoid(MLP(avg) + MLP(max))`` (one shared MLP with biases),
then a spatial gate ``sigmoid(BN(conv7x7([max_c, mean_c])))`` computed on the
channel-gated map; the spatial conv has no bias. It is also the ``CBAM``
operation of Auto Learning Attention (Ma et al., NeurIPS 2020) at reduction 4.
"""
from typing import Optional

from mmengine.registry import MODELS
from torch import Tensor, nn

from ...ops import cbam_attention, channel_spatial_gate, gated_spatial_stats
from .channel_mlp import ChannelMLP, reduced_channels
from .feature_stats import FeatureStats
from .same_conv import SameConv2d
from .weight_init import init_attention_weights


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
        affine (bool): Whether the spatial BN has a weight and bias (the
            search uses False). Its momentum is 0.01, as in the CBAM authors'
            code. Default: True.
    """

    _abbr_ = 'cbam'

    def __init__(self,
                 in_channels: int,
                 rd_ratio: float = 1 / 16,
                 rd_channels: Optional[int] = None,
                 min_rd_channels: int = 0,
                 kernel_size: int = 7,
                 affine: bool = True):
        super().__init__()
        self.in_channels = in_channels
        hidden = reduced_channels(in_channels, rd_ratio, rd_channels, min_rd_channels)
        self.channel_mlp = ChannelMLP(in_channels, hidden, bias=True)
        self.spatial_conv = SameConv2d(2, 1, kernel_size)
        self.spatial_bn = nn.BatchNorm2d(1, momentum=0.01, affine=affine)

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
        return self.channel_mlp(avg) + self.channel_mlp(max_)

    def spatial_logits(self, pooled: Tensor) -> Tensor:
        """Spatial logits ``BN(conv(pooled))``.

        Args:
            pooled (Tensor): ``[max_c, mean_c]`` of the channel-gated map,
                (N, 2, H, W).

        Returns:
            Tensor: Shape (N, 1, H, W), in the dtype of ``pooled``.
        """
        return self.spatial_bn(self.spatial_conv(pooled)).to(pooled.dtype)

    def forward(self, x: Tensor, stats: Optional[FeatureStats] = None) -> Tensor:
        """Gate the channels, then the positions of ``x``.

        Without ``stats`` the whole module is one :func:`autola_mm.ops.cbam_attention`
        call (with its fused backward); with ``stats`` (shared pooling in HOGA)
        it starts from the cached channel pooling.

        Args:
            x (Tensor): Shape (N, C, H, W).
            stats (FeatureStats, optional): Cached pooling of ``x``.

        Returns:
            Tensor: ``x * sigmoid(channel) * sigmoid(spatial)``, (N, C, H, W).
        """
        if stats is None:
            return cbam_attention(x, self.channel_logits, self.spatial_logits)
        channel = self.channel_logits(*FeatureStats.of(x, stats).channel_stats)
        spatial = self.spatial_logits(gated_spatial_stats(x, channel))
        return channel_spatial_gate(x, channel, spatial)
