"""The size-keeping convolutions inside the gates of Auto Learning Attention.

The gates of Ma et al. (NeurIPS 2020) convolve with stride 1 and the zero
padding that keeps H x W: depthwise convolutions in the separable and dilated
gates, and small dense convolutions over the 2-map channel pool in CBAM and
the spatial gates. :class:`SameConv2d` is an ``nn.Conv2d`` (same parameters,
state-dict keys and initialisation) that runs such a convolution on
:func:`autola_mm.ops.same_conv2d` when its groups have few channels, where
the compiled direct kernel beats oneDNN (measured on 2 CPU threads, forward
and backward: a 3x3 depthwise convolution of 16 x 64 x 56 x 56 about 7 ms
against 18-34 ms, the 7x7 2 -> 1 convolution of 64 x 2 x 32 x 32 1.2 ms
against 2.8-7 ms, but a 1x1 16 -> 16 convolution of 64 x 16 x 8 x 8 1.2 ms
against 0.4 ms). Other convolutions keep ``nn.Conv2d``'s forward.
"""
from torch import Tensor, nn

from ...ops import ops_for
from ...ops.reference import DIRECT_MAX_CHANNEL_PAIRS


class SameConv2d(nn.Conv2d):
    """A bias-free, stride-1 convolution whose padding keeps H x W.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Odd kernel size.
        dilation (int): Spacing of the kernel taps. Default: 1.
        groups (int): Channel groups. Default: 1.

    Attributes:
        direct (bool): Whether the forward runs on :func:`same_conv2d`: groups
            of at most ``DIRECT_MAX_CHANNEL_PAIRS`` (input, output) channel
            pairs (:mod:`autola_mm.ops.reference`; 16): depthwise (1), the
            channel pool's 2 -> 1 and 2 -> 2 (2, 4) and the 4 -> 4 pointwise
            convolutions of 16-channel HOGAs (16).
        pointwise (bool): Whether it runs on :func:`pointwise_conv2d` (other
            ungrouped 1 x 1 convolutions).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 dilation: int = 1,
                 groups: int = 1):
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'kernel_size={kernel_size!r}: expected an odd positive int')
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            padding=dilation * (kernel_size - 1) // 2,
            dilation=dilation,
            groups=groups,
            bias=False)
        pairs = (in_channels // groups) * (out_channels // groups)
        self.direct = pairs <= DIRECT_MAX_CHANNEL_PAIRS
        self.pointwise = not self.direct and kernel_size == 1 and groups == 1

    def forward(self, x: Tensor) -> Tensor:
        """Convolve.

        Args:
            x (Tensor): Shape (N, in_channels, H, W).

        Returns:
            Tensor: Shape (N, out_channels, H, W).
        """
        if self.direct:
            return ops_for(x).same_conv2d(x, self.weight, self.dilation[0], self.groups)
        if self.pointwise:
            return ops_for(x).pointwise_conv2d(x, self.weight)
        return super().forward(x)
