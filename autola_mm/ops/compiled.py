"""The attention core on the compiled operators ``torch.ops.autola_mm.*``.

The same functions as :mod:`.reference`, with the same numbers. The
operators themselves (their checks, their CPU, CUDA and Meta kernels and
their autograd formulas, each backward an operator too) are listed once, in
``csrc/pytorch/operators.cpp``; this module composes SE's and CBAM's
patterns.

Composed from the operators, autograd would write one full-size gradient of
``x`` per use of ``x`` (the pool, the gates) and add them. In eager autograd
:func:`channel_attention` and :func:`cbam_attention` are one autograd
function each: its forward pass runs the small logit networks (MLP, conv,
BN) on the pooled statistics as a graph of their own, and its backward pass
reduces the logits' gradients from ``grad`` and ``x``, backpropagates
through that graph (parameters included), and writes the gradient of ``x``
in one last pass. Traced (``torch.compile``, ``torch.jit.trace``, export)
they are the plain composition of the operators. SE and CBAM with their own
layers (a ReLU MLP; CBAM's convolution and batch norm) are one operator each,
:func:`channel_mlp_attention` and :func:`cbam_mlp_attention`, whose autograd
formulas run the same passes in C++.
"""
from functools import reduce, wraps
from typing import Callable, Optional, Sequence, Tuple

import torch
from torch import Tensor

from . import reference
from .extension import compiled_ops_available

if compiled_ops_available():
    _ops = torch.ops.autola_mm
    channel_stats = _ops.channel_stats
    spatial_stats = _ops.spatial_stats
    sigmoid_gate = _ops.sigmoid_gate
    gated_spatial_stats = _ops.gated_spatial_stats
    channel_spatial_gate = _ops.channel_spatial_gate
    same_conv2d = _ops.same_conv2d
    pointwise_conv2d = _ops.pointwise_conv2d
    channel_mlp = _ops.channel_mlp


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
    """BN, then ReLU where ``relu``: see :func:`autola_mm.ops.reference.batch_norm`."""
    return _ops.batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps,
                           relu, num_batches_tracked)[0]


def _composed(x: Tensor, parameters: Sequence[Tensor]) -> bool:
    """Whether a pattern runs as the plain composition of the operators.

    Traced (torch.compile, jit.trace), the tracer sees the operators; without
    a gradient to compute (inference), the two-pass backward has nothing to
    save and the composition skips the autograd Function's bookkeeping.
    """
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return True
    return not (torch.is_grad_enabled()
                and (x.requires_grad or any(p.requires_grad for p in parameters)))


def channel_attention(x: Tensor, channel_logits: Callable[[Tensor, Tensor], Tensor],
                      parameters: Sequence[Tensor] = ()) -> Tensor:
    """SE's pattern: see :func:`autola_mm.ops.reference.channel_attention`."""
    if _composed(x, parameters):
        return sigmoid_gate(*_autocast_common(x, channel_logits(*channel_stats(x))))
    return _ChannelAttention.apply(x, channel_logits, *parameters)


def channel_mlp_attention(x: Tensor,
                          weight1: Tensor,
                          bias1: Optional[Tensor],
                          weight2: Tensor,
                          bias2: Optional[Tensor],
                          with_max_pool: bool = False) -> Tensor:
    """SE's pattern with a ReLU MLP: see :func:`autola_mm.ops.reference.channel_mlp_attention`.

    One operator, whose autograd formula (C++) runs :class:`_ChannelAttention`'s
    two-pass backward without its Python frames and nested graph. Under CUDA
    autocast a map in autocast's dtype (the output of an autocast convolution)
    runs it on weights cast to that dtype, the MLP's autocast dtype (autograd
    casts their gradients back). Under any other autocast the MLP computes in
    another dtype than the pool and the gate: :func:`channel_attention`
    composes the operators there, as for any logit network.
    """
    device = x.device.type
    if not torch.is_autocast_enabled(device):
        return _ops.channel_mlp_attention(x, weight1, bias1, weight2, bias2, with_max_pool)
    if device == 'cuda' and x.dtype == torch.get_autocast_dtype(device):
        weight1, bias1, weight2, bias2 = (None if w is None else w.to(x.dtype)
                                          for w in (weight1, bias1, weight2, bias2))
        return _ops.channel_mlp_attention(x, weight1, bias1, weight2, bias2, with_max_pool)
    composed = reference.channel_mlp_composition(channel_attention, channel_mlp)
    return composed(x, weight1, bias1, weight2, bias2, with_max_pool)


def cbam_attention(x: Tensor, channel_logits: Callable[[Tensor, Tensor], Tensor],
                   spatial_logits: Callable[[Tensor], Tensor],
                   parameters: Sequence[Tensor] = ()) -> Tensor:
    """CBAM's pattern: see :func:`autola_mm.ops.reference.cbam_attention`."""
    if _composed(x, parameters):
        x, channel = _autocast_common(x, channel_logits(*channel_stats(x)))
        spatial = spatial_logits(gated_spatial_stats(x, channel))
        return channel_spatial_gate(*_autocast_common(x, channel, spatial))
    return _CBAMAttention.apply(x, channel_logits, spatial_logits, *parameters)


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
    """CBAM's pattern and layers: see :func:`autola_mm.ops.reference.cbam_mlp_attention`.

    One operator, whose autograd formula (C++) runs :class:`_CBAMAttention`'s
    three-pass backward without its Python frames and nested graphs. Under
    autocast the MLP and the convolution compute in another dtype than the
    pools and the gates: :func:`cbam_attention` composes the operators there.
    """
    if not torch.is_autocast_enabled(x.device.type):
        return _ops.cbam_mlp_attention(x, weight1, bias1, weight2, bias2, conv_weight, bn_weight,
                                       bn_bias, running_mean, running_var, training, momentum,
                                       eps, num_batches_tracked)
    composed = reference.cbam_mlp_composition(cbam_attention, channel_mlp, same_conv2d, batch_norm)
    return composed(x, weight1, bias1, weight2, bias2, conv_weight, bn_weight, bn_bias,
                    running_mean, running_var, training, momentum, eps, num_batches_tracked)


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
    """HOGA's separable gate: see :func:`autola_mm.ops.reference.sep_conv_gate`.

    One operator, whose autograd formula (C++) runs the backward operators of
    its convolutions, batch norms and gate in reverse, one autograd node
    without the Python frames of the gate's modules. Under autocast the
    convolutions compute in another dtype than the batch norms and the gate:
    the operators are composed there.
    """
    arguments = (depthwise1, pointwise1, bn_weight1, bn_bias1, running_mean1, running_var1,
                 training1, momentum1, eps1, num_batches_tracked1, depthwise2, pointwise2,
                 bn_weight2, bn_bias2, running_mean2, running_var2, training2, momentum2, eps2,
                 num_batches_tracked2, spatial)
    if not torch.is_autocast_enabled(x.device.type):
        return _ops.sep_conv_gate(x, *arguments)
    composed = reference.sep_conv_gate_composition(spatial_stats, same_conv2d, pointwise_conv2d,
                                                   batch_norm, sigmoid_gate)
    return composed(x, *arguments)


def _leaves(*tensors: Tensor) -> Tuple[Tensor, ...]:
    """``tensors`` as leaves of a graph of their own (the inputs of a logit network)."""
    return tuple(t.detach().requires_grad_() for t in tensors)


def _check_parameters(pattern: str, outputs: Tensor, leaves: Sequence[Tensor],
                      parameters: Sequence[Tensor]) -> None:
    """Refuse a logit network that reads a tensor requiring grad that is not in ``parameters``.

    The walk stops at the parameters: a parameter that is itself computed
    (``torch.func.functional_call`` with stepped weights) is a valid input.
    """
    known = {id(t) for t in (*leaves, *parameters)}
    nodes, seen = [outputs.grad_fn], {p.grad_fn for p in parameters if p.grad_fn is not None}
    while nodes:
        node = nodes.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, 'variable', None)
        if variable is not None and id(variable) not in known:
            raise ValueError(
                f'{pattern}: the logit networks read a tensor of shape {tuple(variable.shape)} '
                'that requires grad but is not in `parameters`; pass every parameter they '
                'read, e.g. tuple(module.parameters()), so that it gets its gradient')
        nodes.extend(next_node for next_node, _ in node.next_functions)


def _autocast_common(*tensors: Tensor) -> Tuple[Tensor, ...]:
    """Under autocast, ``tensors`` in their widest dtype (the operators' autocast policy).

    float64 included, which autocast's own promotion leaves alone: logits a
    network returns in float64 gate a float32 map in float64, as in the reference.
    """
    if not torch.is_autocast_enabled(tensors[0].device.type):
        return tensors
    dtype = reduce(torch.promote_types, (t.dtype for t in tensors))
    return tuple(t.to(dtype) for t in tensors)


def _graph_gradients(outputs: Tensor, grad: Tensor, inputs: Sequence[Tensor],
                     parameters: Sequence[Tensor], dtype: torch.dtype) -> Tuple[list, list]:
    """Gradients of a logit network's ``inputs`` (in ``dtype``) and ``parameters``.

    Unused inputs get zeros, unused or frozen parameters None. The network's
    graph is kept (it lives as long as the autograd node that owns it), so
    that a backward pass with ``retain_graph=True`` can run again.
    """
    trained = [p for p in parameters if p.requires_grad]
    if not outputs.requires_grad:
        return [torch.zeros_like(t, dtype=dtype) for t in inputs], [None] * len(parameters)
    grads = torch.autograd.grad(outputs, (*inputs, *trained), grad.to(outputs.dtype),
                                retain_graph=True, allow_unused=True)
    input_grads = [
        torch.zeros_like(t, dtype=dtype) if g is None else g.to(dtype)
        for t, g in zip(inputs, grads)
    ]
    trained_grads = iter(grads[len(inputs):])
    return input_grads, [next(trained_grads) if p.requires_grad else None for p in parameters]


def _sum_grads(first: list, second: list) -> list:
    return [a if b is None else b if a is None else a + b for a, b in zip(first, second)]


def _first_order(pattern: str):
    """A backward that computes without a graph and refuses, naming ``pattern``, to
    build one (``create_graph=True``, for a double backward). torch's
    ``once_differentiable`` hands back an error node that the inputs do not reach, so
    a second ``torch.autograd.grad`` reports them unused (``allow_unused=True``: a
    silent None)."""

    def decorate(backward):

        @wraps(backward)
        def first_order_backward(ctx, *grads):
            if torch.is_grad_enabled() and any(g is not None and g.requires_grad for g in grads):
                raise RuntimeError(
                    f'{pattern}: the compiled backward is not differentiable (create_graph='
                    f'True); run higher-order gradients on the reference path '
                    f'(AUTOLA_OPS=reference)')
            with torch.no_grad():
                return backward(ctx, *grads)

        return first_order_backward

    return decorate


class _ChannelAttention(torch.autograd.Function):
    """``sigmoid_gate(x, channel_logits(*channel_stats(x)))`` with a two-pass backward.

    Backward: one pass over ``grad`` and ``x`` reduces the logits' gradient,
    the MLP's graph gives the statistics' and parameters' gradients, a second
    pass writes the gradient of ``x`` from the gate and the pool together.
    """

    @staticmethod
    def forward(ctx, x, channel_logits, *parameters):
        stats = channel_stats(x)
        with torch.set_grad_enabled(any(ctx.needs_input_grad)):
            ctx.stats = _leaves(*stats)
            ctx.logits = channel_logits(*ctx.stats)
        _check_parameters('channel_attention', ctx.logits, ctx.stats, parameters)
        x, logits, channel_max = _autocast_common(x, ctx.logits.detach(), stats[1])
        ctx.parameters = parameters
        ctx.save_for_backward(x, logits, channel_max)
        return sigmoid_gate(x, logits)

    @staticmethod
    @_first_order('channel_attention')
    def backward(ctx, grad):
        x, logits, channel_max = ctx.saved_tensors
        grad_logits, ties = _ops.channel_attention_backward_logits(grad, x, logits, channel_max)
        (grad_avg, grad_max), grad_params = _graph_gradients(ctx.logits, grad_logits, ctx.stats,
                                                             ctx.parameters, x.dtype)
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = _ops.channel_attention_backward_input(grad, x, logits, channel_max, ties,
                                                           grad_avg, grad_max)
        return (grad_x, None, *grad_params)


class _CBAMAttention(torch.autograd.Function):
    """CBAM's composition of the operators with a three-pass backward.

    Backward: one pass over ``grad`` and ``x`` reduces both gates' logits'
    gradients; the spatial network's graph gives the pooled map's gradient;
    one pass over ``x`` reduces the channel logits' gradient through the
    gated pool; the MLP's graph gives the statistics' gradients; a last pass
    writes the gradient of ``x`` from its three uses.
    """

    @staticmethod
    def forward(ctx, x, channel_logits, spatial_logits, *parameters):
        avg, channel_max = channel_stats(x)
        with torch.set_grad_enabled(any(ctx.needs_input_grad)):
            ctx.stats = _leaves(avg, channel_max)
            ctx.channel = channel_logits(*ctx.stats)
            pool_x, channel = _autocast_common(x, ctx.channel.detach())
            pooled = gated_spatial_stats(pool_x, channel)
            ctx.pooled = _leaves(pooled)
            ctx.spatial = spatial_logits(*ctx.pooled)
        _check_parameters('cbam_attention', ctx.channel, ctx.stats, parameters)
        _check_parameters('cbam_attention', ctx.spatial, ctx.pooled, parameters)
        x, channel, spatial, channel_max = _autocast_common(x, channel, ctx.spatial.detach(),
                                                            channel_max)
        if pooled.dtype != x.dtype:
            # Spatial logits wider than the pool: the backward finds the pool's maxima
            # among x * sigmoid(channel) in the wider dtype, which a maximum rounded to
            # the pool's would not equal (no position would take its gradient: 0 / 0).
            pooled = gated_spatial_stats(x, channel)
        ctx.parameters = parameters
        ctx.save_for_backward(x, channel, spatial, pooled, channel_max)
        return channel_spatial_gate(x, channel, spatial)

    @staticmethod
    @_first_order('cbam_attention')
    def backward(ctx, grad):
        x, channel, spatial, pooled, channel_max = ctx.saved_tensors
        grad_channel, grad_spatial = _ops.cbam_backward_gate_logits(grad, x, channel, spatial)
        (grad_pooled, ), spatial_grads = _graph_gradients(ctx.spatial, grad_spatial, ctx.pooled,
                                                          ctx.parameters, x.dtype)
        grad_channel_pool, ties = _ops.cbam_backward_pool_logits(grad_pooled, x, channel, pooled,
                                                                 channel_max)
        (grad_avg, grad_max), channel_grads = _graph_gradients(
            ctx.channel, grad_channel + grad_channel_pool, ctx.stats, ctx.parameters, x.dtype)
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = _ops.cbam_backward_input(grad, x, channel, spatial, pooled, grad_pooled,
                                              channel_max, ties, grad_avg, grad_max)
        return (grad_x, None, None, *_sum_grads(spatial_grads, channel_grads))
