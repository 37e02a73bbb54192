"""The convolutional gates of Auto Learning Attention (Ma et al., NeurIPS 2020).

Four HOGA operations turn a small factorized conv into gate logits:

* ``sep_conv_3x3``: two stacked (depthwise 3x3, pointwise 1x1, BN), ReLU
  between, gating every element of ``x``.
* ``dil_conv_3x3``: one (depthwise 3x3 dilation 2, pointwise 1x1, BN),
  gating every element of ``x``.
* ``sep_conv_3x3_spatial``: the separable stack on the channel pool
  ``[max_c, mean_c]`` (2 -> 2 -> 1 maps), gating every position of ``x``.
* ``dil_conv_3x3_spatial``: a dense 3x3 dilation-2 conv (2 -> 1), a 1x1 conv
  and BN on the channel pool, gating every position of ``x``.

No conv has a bias; every padding keeps H x W. The logits are cast to the
dtype of ``x`` before gating (under autocast the convs may run in bfloat16).
"""
from typing import Optional

from torch import Tensor, nn

from ...ops import sigmoid_gate
from .feature_stats import FeatureStats
from .same_conv import SameConv2d


class ConvPointwiseBN(nn.Module):
    """A k x k conv, a 1 x 1 conv, then BN: the factorized conv of the gates.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Odd size of the k x k conv. Default: 3.
        dilation (int): Dilation of the k x k conv. Default: 1.
        depthwise (bool): If True the k x k conv is depthwise (in -> in) and
            the 1 x 1 conv maps in -> out; if False the k x k conv is dense
            (in -> out) and the 1 x 1 conv maps out -> out. Default: True.
        affine (bool): Whether the BN has a weight and bias. Default: True.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 3,
                 dilation: int = 1,
                 depthwise: bool = True,
                 affine: bool = True):
        super().__init__()
        mid_channels = in_channels if depthwise else out_channels
        self.spatial = SameConv2d(
            in_channels,
            mid_channels,
            kernel_size,
            dilation=dilation,
            groups=in_channels if depthwise else 1)
        self.pointwise = SameConv2d(mid_channels, out_channels, 1)
        self.bn = nn.BatchNorm2d(out_channels, affine=affine)

    def forward(self, x: Tensor) -> Tensor:
        """Convolve, then normalise.

        Args:
            x (Tensor): Shape (N, in_channels, H, W).

        Returns:
            Tensor: Shape (N, out_channels, H, W).
        """
        return self.bn(self.pointwise(self.spatial(x)))


class SepConvGate(nn.Module):
    """``sep_conv_3x3``: a two-stage separable conv gating every element.

    Args:
        channels (int): Channels of the input.
        affine (bool): Whether the BNs are affine. Default: True.
        kernel_size (int): Size of the depthwise convs. Default: 3.
    """

    def __init__(self, channels: int, affine: bool = True, kernel_size: int = 3):
        super().__init__()
        self.conv1 = ConvPointwiseBN(channels, channels, kernel_size, affine=affine)
        self.act = nn.ReLU()
        self.conv2 = ConvPointwiseBN(channels, channels, kernel_size, affine=affine)

    def forward(self, x: Tensor, stats: Optional[FeatureStats] = None) -> Tensor:
        """Gate every element of ``x``.

        Args:
            x (Tensor): Shape (N, C, H, W).
            stats (FeatureStats, optional): Unused; accepted like every operation.

        Returns:
            Tensor: ``x * sigmoid(logits)``, shape (N, C, H, W).
        """
        return sigmoid_gate(x, self.conv2(self.act(self.conv1(x))).to(x.dtype))


class DilConvGate(nn.Module):
    """``dil_conv_3x3``: a dilated separable conv gating every element.

    Args:
        channels (int): Channels of the input.
        affine (bool): Whether the BN is affine. Default: True.
        kernel_size (int): Size of the depthwise conv. Default: 3.
        dilation (int): Its dilation. Default: 2.
    """

    def __init__(self,
                 channels: int,
                 affine: bool = True,
                 kernel_size: int = 3,
                 dilation: int = 2):
        super().__init__()
        self.conv = ConvPointwiseBN(
            channels, channels, kernel_size, dilation=dilation, affine=affine)

    def forward(self, x: Tensor, stats: Optional[FeatureStats] = None) -> Tensor:
        """Gate every element of ``x``.

        Args:
            x (Tensor): Shape (N, C, H, W).
            stats (FeatureStats, optional): Unused; accepted like every operation.

        Returns:
            Tensor: ``x * sigmoid(logits)``, shape (N, C, H, W).
        """
        return sigmoid_gate(x, self.conv(x).to(x.dtype))


class SepConvSpatialGate(nn.Module):
    """``sep_conv_3x3_spatial``: a separable conv on the channel pool gating positions.

    Args:
        channels (int): Channels of the input; the gate's weights do not
            depend on it (it sees the 2-map channel pool).
        affine (bool): Whether the BNs are affine. Default: True.
        kernel_size (int): Size of the depthwise convs. Default: 3.
    """

    def __init__(self, channels: int, affine: bool = True, kernel_size: int = 3):
        super().__init__()
        self.conv1 = ConvPointwiseBN(2, 2, kernel_size, affine=affine)
        self.act = nn.ReLU()
        self.conv2 = ConvPointwiseBN(2, 1, kernel_size, affine=affine)

    def forward(self, x: Tensor, stats: Optional[FeatureStats] = None) -> Tensor:
        """Gate every position of ``x``.

        Args:
            x (Tensor): Shape (N, C, H, W).
            stats (FeatureStats, optional): Cached pooling of ``x``.

        Returns:
            Tensor: ``x * sigmoid(logits)`` with logits (N, 1, H, W).
        """
        pooled = FeatureStats.of(x, stats).spatial_stats
        return sigmoid_gate(x, self.conv2(self.act(self.conv1(pooled))).to(x.dtype))


class DilConvSpatialGate(nn.Module):
    """``dil_conv_3x3_spatial``: a dilated conv on the channel pool gating positions.

    Args:
        channels (int): Channels of the input; the gate's weights do not
            depend on it (it sees the 2-map channel pool).
        affine (bool): Whether the BN is affine. Default: True.
        kernel_size (int): Size of the dense conv. Default: 3.
        dilation (int): Its dilation. Default: 2.
    """

    def __init__(self,
                 channels: int,
                 affine: bool = True,
                 kernel_size: int = 3,
                 dilation: int = 2):
        super().__init__()
        self.conv = ConvPointwiseBN(
            2, 1, kernel_size, dilation=dilation, depthwise=False, affine=affine)

    def forward(self, x: Tensor, stats: Optional[FeatureStats] = None) -> Tensor:
        """Gate every position of ``x``.

        Args:
            x (Tensor): Shape (N, C, H, W).
            stats (FeatureStats, optional): Cached pooling of ``x``.

        Returns:
            Tensor: ``x * sigmoid(logits)`` with logits (N, 1, H, W).
        """
        logits = self.conv(FeatureStats.of(x, stats).spatial_stats)
        return sigmoid_gate(x, logits.to(x.dtype))
