"""The attention core in pure PyTorch: the specification of the compiled path.

Every function here has a counterpart of the same signature and the same
numbers in :mod:`.compiled`; modules reach either through
:func:`autola_mm.ops.ops_for`. Where the extension is built, each function
first runs the argument checks of its compiled operator (on Meta tensors, no
data), so both paths reject bad input with the same message.

The patterns of SE and CBAM (Hu et al., CVPR 2018; Woo et al., ECCV 2018;
the ``SE``, ``SE_A_M`` and ``CBAM`` operations of Ma et al., "Auto Learning
Attention", NeurIPS 2020)::

    channel_attention:  x * sigmoid(channel_logits(avg_hw(x), max_hw(x)))
    cbam_attention:     c = channel_logits(avg_hw(x), max_hw(x))
                        s = spatial_logits([max_c, mean_c](x * sigmoid(c)))
                        x * sigmoid(c) * sigmoid(s)
"""
from typing import Callable, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .extension import compiled_ops_available


def _check(op: str, *args) -> None:
    """Run the argument checks of ``torch.ops.autola_mm.<op>`` on Meta copies of ``args``.

    Arguments on several devices go to the operator itself, whose device
    check raises before any kernel runs. Skipped where the extension is not
    built, under autocast (which casts mixed dtypes before torch's own
    operators see them) and while tracing (the trace would record the check).
    """
    tensors = [a for a in args if isinstance(a, Tensor)]
    if (not compiled_ops_available() or torch.compiler.is_compiling() or torch.jit.is_tracing()
            or torch.is_autocast_enabled(tensors[0].device.type)):
        return
    operator = getattr(torch.ops.autola_mm, op)
    if len({t.device for t in tensors}) > 1:
        operator(*args)
    operator(*(torch.empty_like(a, device='meta') if isinstance(a, Tensor) else a for a in args))


def channel_stats(x: Tensor) -> Tuple[Tensor, Tensor]:
    """Average and maximum of every channel over its H x W positions.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W), H * W > 0.

    Returns:
        tuple[Tensor, Tensor]: ``(avg, max)``, each of shape (N, C, 1, 1).
    """
    _check('channel_stats', x)
    return x.mean(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)


def _spatial_stats(x: Tensor) -> Tensor:
    return torch.cat((x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)), dim=1)


def spatial_stats(x: Tensor) -> Tensor:
    """Maximum and mean over channels at every position (CBAM's channel pool).

    Args:
        x (Tensor): Feature map of shape (N, C, H, W), C > 0.

    Returns:
        Tensor: Shape (N, 2, H, W); channel 0 is the max, channel 1 the mean.
    """
    _check('spatial_stats', x)
    return _spatial_stats(x)


def sigmoid_gate(x: Tensor, logits: Tensor) -> Tensor:
    """Gate ``x`` with ``sigmoid(logits)``.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).
        logits (Tensor): Shape (N, C, 1, 1), (N, 1, H, W) or (N, C, H, W),
            broadcast over the missing dimensions.

    Returns:
        Tensor: ``x * sigmoid(logits)``, shape (N, C, H, W).
    """
    _check('sigmoid_gate', x, logits)
    return x * torch.sigmoid(logits)


def gated_spatial_stats(x: Tensor, channel_logits: Tensor) -> Tensor:
    """``spatial_stats(x * sigmoid(channel_logits))``: CBAM's second pooling.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W), C > 0.
        channel_logits (Tensor): Shape (N, C, 1, 1).

    Returns:
        Tensor: Shape (N, 2, H, W), max then mean over the gated channels.
    """
    _check('gated_spatial_stats', x, channel_logits)
    return _spatial_stats(x * torch.sigmoid(channel_logits))


def channel_spatial_gate(x: Tensor, channel_logits: Tensor, spatial_logits: Tensor) -> Tensor:
    """Apply CBAM's two gates: ``x * sigmoid(channel) * sigmoid(spatial)``.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).
        channel_logits (Tensor): Shape (N, C, 1, 1).
        spatial_logits (Tensor): Shape (N, 1, H, W).

    Returns:
        Tensor: Shape (N, C, H, W).
    """
    _check('channel_spatial_gate', x, channel_logits, spatial_logits)
    return x * torch.sigmoid(channel_logits) * torch.sigmoid(spatial_logits)


def same_conv2d(x: Tensor, weight: Tensor, dilation: int = 1, groups: int = 1) -> Tensor:
    """Convolve ``x`` with stride 1 and the zero padding that keeps H x W.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).
        weight (Tensor): Shape (C_out, C / groups, kH, kW), kH and kW odd.
        dilation (int): Spacing of the kernel taps. Default: 1.
        groups (int): Channel groups; C and C_out are multiples of it. Default: 1.

    Returns:
        Tensor: Shape (N, C_out, H, W).
    """
    _check('same_conv2d', x, weight, dilation, groups)
    padding = (dilation * (weight.shape[2] - 1) // 2, dilation * (weight.shape[3] - 1) // 2)
    return torch.nn.functional.conv2d(x, weight, padding=padding, dilation=dilation, groups=groups)


def pointwise_conv2d(x: Tensor, weight: Tensor) -> Tensor:
    """Convolve ``x`` with a bias-free 1 x 1 kernel.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).
        weight (Tensor): Shape (C_out, C, 1, 1).

    Returns:
        Tensor: Shape (N, C_out, H, W).
    """
    _check('pointwise_conv2d', x, weight)
    return torch.nn.functional.conv2d(x, weight)


def channel_mlp(avg: Tensor, max_: Optional[Tensor], weight1: Tensor, bias1: Optional[Tensor],
                weight2: Tensor, bias2: Optional[Tensor]) -> Tensor:
    """The channel MLP of SE and CBAM: ``fc2(relu(fc1(avg)))``, plus the same of ``max_``.

    Args:
        avg (Tensor): Pooled descriptor of shape (N, C, 1, 1).
        max_ (Tensor, optional): A second descriptor of that shape, whose
            logits through the same MLP are added (SE_A_M, CBAM); None for none.
        weight1 (Tensor): fc1's weight, (hidden, C).
        bias1 (Tensor, optional): fc1's bias, (hidden, ); None for none.
        weight2 (Tensor): fc2's weight, (C, hidden).
        bias2 (Tensor, optional): fc2's bias, (C, ); None for none.

    Returns:
        Tensor: Channel logits of shape (N, C, 1, 1).
    """
    _check('channel_mlp', avg, max_, weight1, bias1, weight2, bias2)
    logits = None
    for pooled in (avg, ) if max_ is None else (avg, max_):
        term = F.linear(F.relu(F.linear(pooled.flatten(1), weight1, bias1)), weight2, bias2)
        logits = term if logits is None else logits + term
    return logits[:, :, None, None]


def batch_norm(x: Tensor,
               weight: Optional[Tensor],
               bias: Optional[Tensor],
               running_mean: Tensor,
               running_var: Tensor,
               training: bool,
               momentum: float,
               eps: float,
               relu: bool = False,
               num_batches_tracked: Optional[Tensor] = None) -> Tensor:
    """Batch norm of a feature map, as ``F.batch_norm``, then ReLU where ``relu``.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W); in training more than
            one value per channel.
        weight (Tensor, optional): Scale of shape (C, ); None for 1.
        bias (Tensor, optional): Shift of shape (C, ); None for 0.
        running_mean (Tensor): Running mean of shape (C, ), updated in place
            in training.
        running_var (Tensor): Running (unbiased) variance of shape (C, ),
            updated in place in training.
        training (bool): Normalise with the batch's statistics and update the
            running ones by ``momentum``; else normalise with the running ones.
        momentum (float): Weight of the batch's statistics in the update.
        eps (float): Added to the variance.
        relu (bool): Apply ``F.relu`` to the result. Default: False.
        num_batches_tracked (Tensor, optional): ``nn.BatchNorm2d``'s counter
            of training batches, a 0-dim int64 tensor; training adds 1 to it.
            Default: None.

    Returns:
        Tensor: Shape (N, C, H, W).
    """
    _check('batch_norm', x, weight, bias, running_mean, running_var, training, momentum, eps, relu,
           num_batches_tracked)
    if training and num_batches_tracked is not None:
        num_batches_tracked.add_(1)
    # torch's CUDA batch norm updates non-contiguous running statistics in a
    # copy it drops (pytorch#33867), and its backward fails on a bias without
    # a weight ("tensor does not have a device"); so it gets contiguous
    # statistics, written back here, and a weight of ones.
    mean, var = running_mean.contiguous(), running_var.contiguous()
    if weight is None and bias is not None:
        weight = torch.ones_like(bias)
    out = F.batch_norm(x, mean, var, weight, bias, training, momentum, eps)
    for statistic, updated in ((running_mean, mean), (running_var, var)):
        if training and updated is not statistic:
            statistic.copy_(updated)
    return F.relu(out) if relu else out


def channel_attention(x: Tensor, channel_logits: Callable[[Tensor, Tensor], Tensor],
                      parameters: Sequence[Tensor] = ()) -> Tensor:
    """SE's pattern: gate the channels of ``x`` with ``sigmoid(channel_logits(avg, max))``.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W), H * W > 0.
        channel_logits (Callable): Maps the channel statistics ``(avg, max)``,
            each (N, C, 1, 1), to channel logits (N, C, 1, 1); SE reads only
            ``avg``.
        parameters (Sequence[Tensor]): The parameters ``channel_logits``
            reads (the compiled path returns their gradients itself).

    Returns:
        Tensor: ``x * sigmoid(logits)``, shape (N, C, H, W).
    """
    return sigmoid_gate(x, channel_logits(*channel_stats(x)))


def channel_mlp_composition(channel_attention: Callable, channel_mlp: Callable) -> Callable:
    """:func:`channel_mlp_attention` composed from a path's ``channel_attention`` and
    ``channel_mlp``: the logits return in the statistics' dtype."""

    def composed(x, weight1, bias1, weight2, bias2, with_max_pool=False):

        def channel_logits(avg: Tensor, max_: Tensor) -> Tensor:
            second = max_ if with_max_pool else None
            return channel_mlp(avg, second, weight1, bias1, weight2, bias2).to(avg.dtype)

        parameters = tuple(p for p in (weight1, bias1, weight2, bias2) if p is not None)
        return channel_attention(x, channel_logits, parameters)

    return composed


def channel_mlp_attention(x: Tensor,
                          weight1: Tensor,
                          bias1: Optional[Tensor],
                          weight2: Tensor,
                          bias2: Optional[Tensor],
                          with_max_pool: bool = False) -> Tensor:
    """SE's pattern with a ReLU channel MLP: :func:`channel_attention` of :func:`channel_mlp`.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W), H * W > 0.
        weight1 (Tensor): fc1's weight, (hidden, C), hidden > 0.
        bias1 (Tensor, optional): fc1's bias, (hidden, ); None for none.
        weight2 (Tensor): fc2's weight, (C, hidden).
        bias2 (Tensor, optional): fc2's bias, (C, ); None for none.
        with_max_pool (bool): Also pass the max-pooled descriptor through
            the MLP and add its logits (``SE_A_M``). Default: False.

    Returns:
        Tensor: ``x * sigmoid(MLP(avg) [+ MLP(max)])``, shape (N, C, H, W);
        the logits in ``x``'s dtype (under autocast the MLP may compute in
        lower precision).
    """
    _check('channel_mlp_attention', x, weight1, bias1, weight2, bias2, with_max_pool)
    composed = channel_mlp_composition(channel_attention, channel_mlp)
    return composed(x, weight1, bias1, weight2, bias2, with_max_pool)


def cbam_mlp_composition(cbam_attention: Callable, channel_mlp: Callable, same_conv2d: Callable,
                         batch_norm: Callable) -> Callable:
    """:func:`cbam_mlp_attention` composed from a path's ``cbam_attention``, ``channel_mlp``,
    ``same_conv2d`` and ``batch_norm``: the logit networks return their input's dtype."""

    def composed(x, weight1, bias1, weight2, bias2, conv_weight, bn_weight, bn_bias, running_mean,
                 running_var, training, momentum, eps, num_batches_tracked=None):

        def channel_logits(avg: Tensor, max_: Tensor) -> Tensor:
            return channel_mlp(avg, max_, weight1, bias1, weight2, bias2).to(avg.dtype)

        def spatial_logits(pooled: Tensor) -> Tensor:
            return batch_norm(same_conv2d(pooled, conv_weight), bn_weight, bn_bias, running_mean,
                              running_var, training, momentum, eps, False,
                              num_batches_tracked).to(pooled.dtype)

        parameters = tuple(p for p in (weight1, bias1, weight2, bias2, conv_weight, bn_weight,
                                       bn_bias) if p is not None)
        return cbam_attention(x, channel_logits, spatial_logits, parameters)

    return composed


def cbam_mlp_attention(x: Tensor,
                       weight1: Tensor,
                       bias1: Optional[Tensor],
                       weight2: Tensor,
                       bias2: Optional[Tensor],
                       conv_weight: Tensor,
                       bn_weight: Optional[Tensor],
                       bn_bias: Optional[Tensor],
                       running_mean: Tensor,
                       running_var: Tensor,
                       training: bool,
                       momentum: float,
                       eps: float,
                       num_batches_tracked: Optional[Tensor] = None) -> Tensor:
    """CBAM's pattern with its logit networks: :func:`cbam_attention` of a ReLU
    :func:`channel_mlp` and the :func:`batch_norm` of a :func:`same_conv2d`.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W), C > 0 and H * W > 0.
        weight1, bias1, weight2, bias2: The channel MLP's layers, as
            :func:`channel_mlp` takes them.
        conv_weight (Tensor): The spatial convolution's weight, (1, 2, k, k),
            k odd (stride 1, size-keeping zero padding, no bias).
        bn_weight, bn_bias, running_mean, running_var, training, momentum,
            eps, num_batches_tracked: The spatial batch norm's, as
            :func:`batch_norm` takes them (one channel; the running
            statistics and the counter are updated in training).

    Returns:
        Tensor: ``x * sigmoid(channel) * sigmoid(spatial)``, (N, C, H, W).
    """
    _check('cbam_mlp_attention', x, weight1, bias1, weight2, bias2, conv_weight, bn_weight,
           bn_bias, running_mean, running_var, training, momentum, eps, num_batches_tracked)
    composed = cbam_mlp_composition(cbam_attention, channel_mlp, same_conv2d, batch_norm)
    return composed(x, weight1, bias1, weight2, bias2, conv_weight, bn_weight, bn_bias,
                    running_mean, running_var, training, momentum, eps, num_batches_tracked)


#: The most (input, output) channel pairs of a gate's 1 x 1 convolution that
#: the compiled path runs on ``same_conv2d``'s direct kernel; larger ones run
#: on ``pointwise_conv2d``. The extension's ``direct_max_channel_pairs`` is the
#: same bound, which its ``sep_conv_gate`` operator applies.
DIRECT_MAX_CHANNEL_PAIRS = 16


def sep_conv_gate_composition(spatial_stats: Callable, same_conv2d: Callable,
                              pointwise_conv2d: Callable, batch_norm: Callable,
                              sigmoid_gate: Callable) -> Callable:
    """:func:`sep_conv_gate` composed from a path's operators: the logits gate in x's dtype."""

    def stage(t, depthwise, pointwise, bn_weight, bn_bias, running_mean, running_var, training,
              momentum, eps, num_batches_tracked, relu):
        t = same_conv2d(t, depthwise, 1, depthwise.shape[0])
        if pointwise.shape[0] * pointwise.shape[1] <= DIRECT_MAX_CHANNEL_PAIRS:
            t = same_conv2d(t, pointwise)
        else:
            t = pointwise_conv2d(t, pointwise)
        return batch_norm(t, bn_weight, bn_bias, running_mean, running_var, training, momentum,
                          eps, relu, num_batches_tracked)

    def composed(x, depthwise1, pointwise1, bn_weight1, bn_bias1, running_mean1, running_var1,
                 training1, momentum1, eps1, num_batches_tracked1, depthwise2, pointwise2,
                 bn_weight2, bn_bias2, running_mean2, running_var2, training2, momentum2, eps2,
                 num_batches_tracked2, spatial=False):
        hidden = stage(spatial_stats(x) if spatial else x, depthwise1, pointwise1, bn_weight1,
                       bn_bias1, running_mean1, running_var1, training1, momentum1, eps1,
                       num_batches_tracked1, True)
        logits = stage(hidden, depthwise2, pointwise2, bn_weight2, bn_bias2, running_mean2,
                       running_var2, training2, momentum2, eps2, num_batches_tracked2, False)
        return sigmoid_gate(x, logits.to(x.dtype))

    return composed


def sep_conv_gate(x: Tensor,
                  depthwise1: Tensor,
                  pointwise1: Tensor,
                  bn_weight1: Optional[Tensor],
                  bn_bias1: Optional[Tensor],
                  running_mean1: Tensor,
                  running_var1: Tensor,
                  training1: bool,
                  momentum1: float,
                  eps1: float,
                  num_batches_tracked1: Optional[Tensor],
                  depthwise2: Tensor,
                  pointwise2: Tensor,
                  bn_weight2: Optional[Tensor],
                  bn_bias2: Optional[Tensor],
                  running_mean2: Tensor,
                  running_var2: Tensor,
                  training2: bool,
                  momentum2: float,
                  eps2: float,
                  num_batches_tracked2: Optional[Tensor],
                  spatial: bool = False) -> Tensor:
    """HOGA's separable gate (``sep_conv_3x3``, ``sep_conv_3x3_spatial``).

    On ``s = x``, or its channel pool :func:`spatial_stats` where ``spatial``,
    two stacked (depthwise k x k :func:`same_conv2d`, 1 x 1 convolution,
    :func:`batch_norm`), a ReLU between them, give the logits of
    ``x * sigmoid(logits)``.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W), C > 0 and H * W > 0.
        depthwise1 (Tensor): The first depthwise kernel, (W, 1, k, k), k odd,
            where W is C (or 2, the channel pool's maps, where ``spatial``).
        pointwise1 (Tensor): The first 1 x 1 kernel, (W, W, 1, 1).
        bn_weight1, bn_bias1, running_mean1, running_var1, training1,
            momentum1, eps1, num_batches_tracked1: The first batch norm's
            (W channels), as :func:`batch_norm` takes them; its ReLU follows.
        depthwise2 (Tensor): The second depthwise kernel, (W, 1, k, k).
        pointwise2 (Tensor): The second 1 x 1 kernel, (C, W, 1, 1), or
            (1, 2, 1, 1) where ``spatial``.
        bn_weight2, bn_bias2, running_mean2, running_var2, training2,
            momentum2, eps2, num_batches_tracked2: The second batch norm's.
        spatial (bool): Convolve the channel pool ``[max_c, mean_c]`` and gate
            every position; else convolve ``x`` and gate every element.
            Default: False.

    Returns:
        Tensor: ``x * sigmoid(logits)``, (N, C, H, W); the logits (N, C, H, W),
        or (N, 1, H, W) where ``spatial``, cast to ``x``'s dtype.
    """
    arguments = (depthwise1, pointwise1, bn_weight1, bn_bias1, running_mean1, running_var1,
                 training1, momentum1, eps1, num_batches_tracked1, depthwise2, pointwise2,
                 bn_weight2, bn_bias2, running_mean2, running_var2, training2, momentum2, eps2,
                 num_batches_tracked2, spatial)
    _check('sep_conv_gate', x, *arguments)
    composed = sep_conv_gate_composition(spatial_stats, same_conv2d, pointwise_conv2d, batch_norm,
                                         sigmoid_gate)
    return composed(x, *arguments)


def cbam_attention(x: Tensor, channel_logits: Callable[[Tensor, Tensor], Tensor],
                   spatial_logits: Callable[[Tensor], Tensor],
                   parameters: Sequence[Tensor] = ()) -> Tensor:
    """CBAM's pattern: gate the channels of ``x``, then its positions.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W), C > 0 and H * W > 0.
        channel_logits (Callable): Maps the channel statistics ``(avg, max)``,
            each (N, C, 1, 1), to channel logits (N, C, 1, 1).
        spatial_logits (Callable): Maps the spatial statistics of the
            channel-gated map, (N, 2, H, W) (max then mean over channels), to
            spatial logits (N, 1, H, W).
        parameters (Sequence[Tensor]): The parameters both callables read.

    Returns:
        Tensor: ``x * sigmoid(channel) * sigmoid(spatial)``, (N, C, H, W).
    """
    channel = channel_logits(*channel_stats(x))
    spatial = spatial_logits(gated_spatial_stats(x, channel))
    return channel_spatial_gate(x, channel, spatial)
