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

:class:`SepConvGate` and :class:`DilConvGate` build both variants of their
convolution, ``spatial`` choosing the channel pool as input. No conv has a
bias; every padding keeps H x W. The logits are cast to the dtype of ``x``
before gating (under autocast the convs may run in bfloat16). A separable
gate whose layers the attention core computes is one call of its
``sep_conv_gate`` (on the compiled path one operator each way, its backward
in C++); any other runs its modules in turn.
"""
from typing import Optional

from torch import Tensor, nn

from mmcv.cnn import build_activation_layer

from ...ops import ops_for
from .batch_norm import AttentionBatchNorm2d, norm_act
from .layer_configs import DEFAULT_ACT_CFG, DEFAULT_NORM_CFG, ConfigType, build_norm
from .module_hooks import has_hooks
from .same_conv import SameConv2d

#: The maps of the channel pool ``[max_c, mean_c]`` a spatial gate reads.
POOLED_MAPS = 2


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
        norm_cfg (dict): The norm layer. Default: ``dict(type='BN')``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 3,
                 dilation: int = 1,
                 depthwise: bool = True,
                 norm_cfg: ConfigType = DEFAULT_NORM_CFG):
        super().__init__()
        mid_channels = in_channels if depthwise else out_channels
        self.spatial = SameConv2d(
            in_channels,
            mid_channels,
            kernel_size,
            dilation=dilation,
            groups=in_channels if depthwise else 1)
        self.pointwise = SameConv2d(mid_channels, out_channels, 1)
        self.bn = build_norm(norm_cfg, out_channels)

    def forward(self, x: Tensor, act: Optional[nn.Module] = None) -> Tensor:
        """Convolve, then normalise (then activate with ``act``).

        Args:
            x (Tensor): Shape (N, in_channels, H, W).
            act (nn.Module, optional): The activation after the BN, run with
                it by :func:`.batch_norm.norm_act`. Default: None, none.

        Returns:
            Tensor: Shape (N, out_channels, H, W).
        """
        y = self.pointwise(self.spatial(x))
        return self.bn(y) if act is None else norm_act(self.bn, act, y)

    def core_arguments(self) -> tuple:
        """Its arguments of the attention core's ``sep_conv_gate``: the two
        kernels, then the norm layer's :meth:`AttentionBatchNorm2d.core_arguments`."""
        return (self.spatial.weight, self.pointwise.weight, *self.bn.core_arguments())


def _gate(x: Tensor, spatial: bool, logits_of) -> Tensor:
    """``x * sigmoid(logits_of(input))``, the input being ``x`` or its channel pool."""
    ops = ops_for(x)
    source = ops.spatial_stats(x) if spatial else x
    return ops.sigmoid_gate(x, logits_of(source).to(x.dtype))


class SepConvGate(nn.Module):
    """``sep_conv_3x3`` (``spatial=False``) or ``sep_conv_3x3_spatial``.

    Two stacked (k x k depthwise, 1 x 1, BN) with an activation between, on
    ``x`` (C -> C -> C, gating every element) or on its channel pool
    (2 -> 2 -> 1, gating every position).

    Args:
        channels (int): Channels of the input; a spatial gate's weights do
            not depend on it.
        spatial (bool): Read the channel pool and gate positions. Default: False.
        kernel_size (int): Size of the depthwise convs. Default: 3.
        norm_cfg (dict): The norm layers. Default: ``dict(type='BN')``.
        act_cfg (dict): The activation. Default: ``dict(type='ReLU')``.
    """

    def __init__(self,
                 channels: int,
                 spatial: bool = False,
                 kernel_size: int = 3,
                 norm_cfg: ConfigType = DEFAULT_NORM_CFG,
                 act_cfg: ConfigType = DEFAULT_ACT_CFG):
        super().__init__()
        self.spatial = spatial
        width = POOLED_MAPS if spatial else channels
        self.conv1 = ConvPointwiseBN(width, width, kernel_size, norm_cfg=norm_cfg)
        self.act = build_activation_layer(act_cfg)
        self.conv2 = ConvPointwiseBN(width, 1 if spatial else channels, kernel_size,
                                     norm_cfg=norm_cfg)

    def is_core_pattern(self) -> bool:
        """Whether the attention core's ``sep_conv_gate`` computes this gate.

        It does where the activation is an ``nn.ReLU``, the convolutions
        :class:`SameConv2d` and the norm layers :class:`AttentionBatchNorm2d`
        with running statistics (not, e.g., a SyncBN conversion), and none of
        them, nor the two stages, has hooks, which the operator would skip.
        """
        stages = (self.conv1, self.conv2)
        convs = [conv for stage in stages for conv in (stage.spatial, stage.pointwise)]
        norms = [stage.bn for stage in stages]
        return (type(self.act) is nn.ReLU and all(type(conv) is SameConv2d for conv in convs)
                and all(type(bn) is AttentionBatchNorm2d and bn.has_running_stats()
                        for bn in norms)
                and not has_hooks(*stages, self.act, *convs, *norms))

    def forward(self, x: Tensor) -> Tensor:
        """Gate ``x``: one ``sep_conv_gate`` of the attention core where
        :meth:`is_core_pattern`, else its modules in turn.

        Args:
            x (Tensor): Shape (N, C, H, W).

        Returns:
            Tensor: ``x * sigmoid(logits)``, logits (N, C, H, W) or (N, 1, H, W).
        """
        if self.is_core_pattern():
            return ops_for(x).sep_conv_gate(x, *self.conv1.core_arguments(),
                                            *self.conv2.core_arguments(), self.spatial)
        return _gate(x, self.spatial, lambda t: self.conv2(self.conv1(t, self.act)))


class DilConvGate(nn.Module):
    """``dil_conv_3x3`` (``spatial=False``) or ``dil_conv_3x3_spatial``.

    One dilated (k x k, 1 x 1, BN): depthwise on ``x`` (C -> C, gating every
    element), or dense on its channel pool (2 -> 1, gating every position).

    Args:
        channels (int): Channels of the input; a spatial gate's weights do
            not depend on it.
        spatial (bool): Read the channel pool and gate positions. Default: False.
        kernel_size (int): Size of the k x k conv. Default: 3.
        dilation (int): Its dilation. Default: 2.
        norm_cfg (dict): The norm layer. Default: ``dict(type='BN')``.
    """

    def __init__(self,
                 channels: int,
                 spatial: bool = False,
                 kernel_size: int = 3,
                 dilation: int = 2,
                 norm_cfg: ConfigType = DEFAULT_NORM_CFG):
        super().__init__()
        self.spatial = spatial
        self.conv = ConvPointwiseBN(
            POOLED_MAPS if spatial else channels,
            1 if spatial else channels,
            kernel_size,
            dilation=dilation,
            depthwise=not spatial,
            norm_cfg=norm_cfg)

    def forward(self, x: Tensor) -> Tensor:
        """Gate ``x``.

        Args:
            x (Tensor): Shape (N, C, H, W).

        Returns:
            Tensor: ``x * sigmoid(logits)``, logits (N, C, H, W) or (N, 1, H, W).
        """
        return _gate(x, self.spatial, self.conv)
