"""The attention core in float64 numpy (outputs and gradients), and test inputs in several layouts.

Written independently of ``autola_mm.ops.reference``: the tests hold both
paths of ``autola_mm.ops`` to these formulas. The oracle reads the tensors an
op received, cast to float64 (``as_np``), so a float16 or bfloat16 test
measures only the op's own rounding, not that of its inputs. In float16 and
bfloat16 the two intermediates the specification stores in the input's dtype
are rounded to it here too (``stored``): the gate ``s = sigmoid(logits)``,
whose derivative ``s * (1 - s)`` both paths take from the stored gate (zero
where a bfloat16 gate rounds to 1), and the gated map ``x * s``, whose
maximum over channels splits its gradient among the channels that tie once
rounded. In float32 that rounding is below the tolerance, except in the
sigmoid's tails, where the CPU kernels' sigmoid is nearer the exact value
than the rounded one; float32 and float64 keep the exact intermediates.
"""
import functools

import numpy as np
import pytest
import torch

#: Memory layouts of a test input: plain, channels-last, a stride along W, and a
#: channel slice of a bigger map (an offset and a batch stride larger than C * H * W).
LAYOUTS = ('contiguous', 'channels_last', 'strided', 'channel_slice')

#: Feature map shapes every op is tested on: a plain map, 1x1 maps, 49 and 257
#: positions (7x7 and 1x257: a 64-lane CPU loop's remainder), an empty batch,
#: and a map of several parallel CPU tasks.
SHAPES = [(2, 5, 6, 7), (2, 4, 1, 1), (2, 3, 7, 7), (1, 3, 1, 257), (0, 3, 4, 4), (2, 64, 23, 23)]
#: A map whose rows span three chunks of the CPU's row sums (kLaneSumChunk = 4096
#: positions each): two whole chunks and a remainder.
LONG_ROWS = (1, 3, 2, 4100)
#: Per device: the dtype of a test under autocast, and a map dtype the kernels cover
#: that differs from float32 weights.
AUTOCAST_DTYPES = {'cpu': (torch.bfloat16, torch.float64), 'cuda': (torch.float16, torch.float16)}
#: An empty map (H * W = 0): spatial pools and gates accept it, channel pools do not.
NO_POSITIONS = (2, 3, 0, 4)
#: The shapes every layout is tested on (the others are tested contiguous).
LAYOUT_SHAPES = [(2, 5, 6, 7), (1, 3, 1, 257), (2, 64, 23, 23)]


def shapes_and_layouts(shapes=SHAPES, layout_shapes=LAYOUT_SHAPES):
    """``(shape, layout)`` parameters: every shape contiguous, ``layout_shapes`` in every layout."""
    pairs = [(shape, 'contiguous') for shape in shapes]
    pairs += [(shape, layout) for shape in layout_shapes for layout in LAYOUTS[1:]]
    return [pytest.param(shape, layout, id=f'{"x".join(map(str, shape))}-{layout}')
            for shape, layout in pairs]


def in_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """``x`` with the same values, device and dtype, stored in ``layout`` (see LAYOUTS)."""
    n, c, h, w = x.shape
    if layout == 'channels_last':
        return x.contiguous(memory_format=torch.channels_last)
    if layout == 'strided':
        wide = x.new_zeros(n, c, h, 2 * w)
        wide[..., ::2] = x
        return wide[..., ::2]
    if layout == 'channel_slice':
        bigger = x.new_zeros(n, c + 3, h, w)
        bigger[:, 2:2 + c] = x
        return bigger[:, 2:2 + c]
    assert layout == 'contiguous', layout
    return x.contiguous()


def assert_layout_invariant(module: torch.nn.Module, x: torch.Tensor, layout: str,
                            tolerance: dict) -> None:
    """``module`` gives the same output and gradients on ``x`` in ``layout`` as contiguous."""
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(7)).to(x)
    results = []
    for inp in (x.detach().clone(), in_layout(x.detach(), layout)):
        inp.requires_grad_()
        module.zero_grad(set_to_none=True)
        out = module(inp)
        out.backward(grad)
        results.append([out, inp.grad] + [p.grad for p in module.parameters()])
    for ours, theirs in zip(*results):
        torch.testing.assert_close(theirs, ours, **tolerance)


def sigmoid_np(a: np.ndarray) -> np.ndarray:
    with np.errstate(over='ignore'):
        return 1.0 / (1.0 + np.exp(-a))


#: The dtypes whose intermediates the oracle rounds as the specification stores them.
LOW_PRECISION = (torch.float16, torch.bfloat16)


def _dtype(*tensors) -> torch.dtype:
    """The dtype an op computes in for these inputs (float64 for numpy arrays)."""
    dtypes = [getattr(t, 'dtype', torch.float64) for t in tensors]
    return functools.reduce(torch.promote_types, dtypes)


def stored(values: np.ndarray, dtype: torch.dtype) -> np.ndarray:
    """Float64 ``values`` rounded to ``dtype`` where it is one of LOW_PRECISION."""
    if dtype not in LOW_PRECISION:
        return values
    return torch.from_numpy(values).to(dtype).double().numpy()


def gate_np(logits, x) -> np.ndarray:
    """``sigmoid(logits)`` in float64, as a float16 or bfloat16 gate of ``x`` stores it."""
    return stored(sigmoid_np(as_np(logits)), _dtype(x, logits))


def gated_np(x, gate: np.ndarray) -> np.ndarray:
    """The gated map ``x * gate`` in float64, as a float16 or bfloat16 ``x`` stores it."""
    with np.errstate(invalid='ignore'):  # inf * sigmoid(-inf) = inf * 0 is NaN
        return stored(as_np(x) * gate, _dtype(x))


def as_np(t) -> np.ndarray:
    """A tensor's values as float64 numpy (numpy arrays pass through)."""
    if isinstance(t, np.ndarray):
        return t
    return t.detach().cpu().double().numpy()


def assert_close_np(actual: torch.Tensor, expected: np.ndarray, rtol=1e-5, atol=1e-6,
                    equal_nan=False):
    """``actual`` equals the float64 numpy ``expected`` within ``rtol`` and ``atol``."""
    assert tuple(actual.shape) == expected.shape, (tuple(actual.shape), expected.shape)
    np.testing.assert_allclose(as_np(actual), expected, rtol=rtol, atol=atol,
                               equal_nan=equal_nan)


def _sum_to(a: np.ndarray, shape) -> np.ndarray:
    """Sum ``a`` over the axes where ``shape`` broadcast to it (size 1)."""
    axes = tuple(i for i, (big, small) in enumerate(zip(a.shape, shape)) if small == 1 != big)
    return a.sum(axis=axes, keepdims=True).reshape(shape)


def _max_ties(x: np.ndarray, axis) -> np.ndarray:
    """The positions of the maximum along ``axis``, each weighted 1 / (number of ties)."""
    ties = (x == x.max(axis=axis, keepdims=True)).astype(np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        return ties / ties.sum(axis=axis, keepdims=True)


# Forward formulas.


def channel_stats_np(x):
    x = as_np(x)
    with np.errstate(invalid='ignore'):  # inf - inf in a mean is NaN, as in torch
        return x.mean(axis=(2, 3), keepdims=True), x.max(axis=(2, 3), keepdims=True)


def spatial_stats_np(x):
    x = as_np(x)
    with np.errstate(invalid='ignore'):
        return np.concatenate((x.max(axis=1, keepdims=True), x.mean(axis=1, keepdims=True)), 1)


def sigmoid_gate_np(x, logits):
    with np.errstate(invalid='ignore'):  # inf * sigmoid(-inf) = inf * 0 is NaN
        return as_np(x) * gate_np(logits, x)


def gated_spatial_stats_np(x, channel_logits):
    return spatial_stats_np(gated_np(x, gate_np(channel_logits, x)))


def _per_channel(v, channels, default):
    """A (C, ) vector as (1, C, 1, 1) numpy, ``default`` everywhere for None."""
    values = np.full(channels, default, np.float64) if v is None else as_np(v)
    return values.reshape(1, channels, 1, 1)


def _normalised(x, running_mean, running_var, training, eps):
    """x_hat and 1 / std, from the batch's statistics in training, else the running ones."""
    x = as_np(x)
    channels = x.shape[1]
    if training:
        mean = x.mean(axis=(0, 2, 3), keepdims=True)
        var = ((x - mean)**2).mean(axis=(0, 2, 3), keepdims=True)
    else:
        mean = _per_channel(running_mean, channels, 0.0)
        var = _per_channel(running_var, channels, 1.0)
    invstd = 1.0 / np.sqrt(var + eps)
    return (x - mean) * invstd, invstd


def batch_norm_np(x, weight, bias, running_mean, running_var, training, momentum, eps):
    """Output, new running mean and new running variance of torch's BatchNorm2d."""
    channels = as_np(x).shape[1]
    x_hat, _ = _normalised(x, running_mean, running_var, training, eps)
    out = x_hat * _per_channel(weight, channels, 1.0) + _per_channel(bias, channels, 0.0)
    new_mean, new_var = as_np(running_mean), as_np(running_var)
    if training:
        values = as_np(x).transpose(1, 0, 2, 3).reshape(channels, -1)
        count = values.shape[1]
        new_mean = (1 - momentum) * new_mean + momentum * values.mean(axis=1)
        new_var = (1 - momentum) * new_var + momentum * values.var(axis=1) * count / (count - 1)
    return out, new_mean, new_var


def batch_norm_grad_np(x, weight, running_mean, running_var, training, eps, grad):
    """Gradients of x, weight and bias; in training the batch's statistics depend on x."""
    channels = as_np(x).shape[1]
    g = as_np(grad)
    x_hat, invstd = _normalised(x, running_mean, running_var, training, eps)
    scale = _per_channel(weight, channels, 1.0) * invstd
    if training:
        grad_x = scale * (g - g.mean(axis=(0, 2, 3), keepdims=True)
                          - x_hat * (g * x_hat).mean(axis=(0, 2, 3), keepdims=True))
    else:
        grad_x = scale * g
    return grad_x, (g * x_hat).sum(axis=(0, 2, 3)), g.sum(axis=(0, 2, 3))


def channel_spatial_gate_np(x, channel_logits, spatial_logits):
    with np.errstate(invalid='ignore'):
        return sigmoid_gate_np(x, channel_logits) * gate_np(spatial_logits, x)


def same_conv2d_np(x, weight, dilation=1, groups=1):
    """Stride-1 convolution with zero padding dilation * (k - 1) / 2, by shifted sums."""
    x, weight = as_np(x), as_np(weight)
    n, c, h, w = x.shape
    out_channels, in_per_group, kh, kw = weight.shape
    pad_h, pad_w = dilation * (kh - 1) // 2, dilation * (kw - 1) // 2
    padded = np.zeros((n, c, h + 2 * pad_h, w + 2 * pad_w))
    padded[:, :, pad_h:pad_h + h, pad_w:pad_w + w] = x
    out = np.zeros((n, out_channels, h, w))
    out_per_group = out_channels // groups
    for o in range(out_channels):
        for i in range(in_per_group):
            channel = o // out_per_group * in_per_group + i
            for a in range(kh):
                for b in range(kw):
                    window = padded[:, channel, a * dilation:a * dilation + h,
                                    b * dilation:b * dilation + w]
                    out[:, o] += weight[o, i, a, b] * window
    return out


def pointwise_conv2d_np(x, weight):
    return np.einsum('oi,nihw->nohw', as_np(weight)[:, :, 0, 0], as_np(x))


def _mlp_hidden_np(pooled, weight1, bias1):
    """``relu(fc1(p))`` of (N, C, 1, 1) descriptors as (N, hidden), stored in their dtype."""
    pre = as_np(pooled)[:, :, 0, 0] @ as_np(weight1).T
    if bias1 is not None:
        pre = pre + as_np(bias1)
    return stored(np.maximum(pre, 0), _dtype(pooled, weight1))


def channel_mlp_np(avg, max_, weight1, bias1, weight2, bias2):
    """``fc2(relu(fc1(avg)))`` plus the same of ``max_`` where given, (N, C, 1, 1)."""
    logits = 0
    for pooled in [avg] + ([] if max_ is None else [max_]):
        term = _mlp_hidden_np(pooled, weight1, bias1) @ as_np(weight2).T
        logits = logits + (term if bias2 is None else term + as_np(bias2))
    return np.asarray(logits)[:, :, None, None]


# Gradients: the vector-Jacobian products of the formulas above with ``grad``.
# A maximum's gradient is split evenly among the positions that tie for it.


def channel_stats_grad_np(x, grad_avg, grad_max):
    """Gradient of x from those of ``(avg, max)``."""
    x = as_np(x)
    positions = x.shape[2] * x.shape[3]
    return as_np(grad_avg) / positions + _max_ties(x, (2, 3)) * as_np(grad_max)


def spatial_stats_grad_np(x, grad):
    """Gradient of x from that of ``[max_c, mean_c]``."""
    x, grad = as_np(x), as_np(grad)
    return _max_ties(x, 1) * grad[:, :1] + grad[:, 1:] / x.shape[1]


def sigmoid_gate_grad_np(x, logits, grad):
    """Gradients of ``(x, logits)``."""
    s = gate_np(logits, x)
    x, grad = as_np(x), as_np(grad)
    return grad * s, _sum_to(grad * x * s * (1 - s), s.shape)


def gated_spatial_stats_grad_np(x, channel_logits, grad):
    """Gradients of ``(x, channel_logits)``."""
    s = gate_np(channel_logits, x)
    grad_gated = spatial_stats_grad_np(gated_np(x, s), grad)
    return grad_gated * s, _sum_to(grad_gated * as_np(x) * s * (1 - s), s.shape)


def channel_spatial_gate_grad_np(x, channel_logits, spatial_logits, grad):
    """Gradients of ``(x, channel_logits, spatial_logits)``."""
    sc, ss = gate_np(channel_logits, x), gate_np(spatial_logits, x)
    x, grad = as_np(x), as_np(grad)
    return (grad * sc * ss, _sum_to(grad * x * ss * sc * (1 - sc), sc.shape),
            _sum_to(grad * x * sc * ss * (1 - ss), ss.shape))


def same_conv2d_grad_np(x, weight, grad, dilation=1, groups=1):
    """Gradients of ``(x, weight)``: the adjoint of the shifted sums of same_conv2d_np."""
    x, weight, grad = as_np(x), as_np(weight), as_np(grad)
    n, c, h, w = x.shape
    out_channels, in_per_group, kh, kw = weight.shape
    pad_h, pad_w = dilation * (kh - 1) // 2, dilation * (kw - 1) // 2
    padded = np.zeros((n, c, h + 2 * pad_h, w + 2 * pad_w))
    padded[:, :, pad_h:pad_h + h, pad_w:pad_w + w] = x
    grad_padded = np.zeros_like(padded)
    grad_weight = np.zeros_like(weight)
    out_per_group = out_channels // groups
    for o in range(out_channels):
        for i in range(in_per_group):
            channel = o // out_per_group * in_per_group + i
            for a in range(kh):
                for b in range(kw):
                    rows = slice(a * dilation, a * dilation + h)
                    cols = slice(b * dilation, b * dilation + w)
                    grad_padded[:, channel, rows, cols] += weight[o, i, a, b] * grad[:, o]
                    grad_weight[o, i, a, b] = (padded[:, channel, rows, cols] * grad[:, o]).sum()
    return grad_padded[:, :, pad_h:pad_h + h, pad_w:pad_w + w], grad_weight


def pointwise_conv2d_grad_np(x, weight, grad):
    """Gradients of ``(x, weight)``."""
    x, weight, grad = as_np(x), as_np(weight), as_np(grad)
    return (np.einsum('oi,nohw->nihw', weight[:, :, 0, 0], grad),
            np.einsum('nohw,nihw->oi', grad, x)[:, :, None, None])


def channel_mlp_grad_np(avg, max_, weight1, bias1, weight2, grad):
    """Gradients of ``(avg, max_, weight1, bias1, weight2, bias2)``; None for an absent max_."""
    g = as_np(grad)[:, :, 0, 0]
    w1 = as_np(weight1)
    grad_hidden = g @ as_np(weight2)
    descriptors = [avg] + ([] if max_ is None else [max_])
    grad_pooled, grad_weight1, grad_bias1, hidden_sum = [], 0, 0, 0
    for pooled in descriptors:
        hidden = _mlp_hidden_np(pooled, weight1, bias1)
        grad_pre = np.where(hidden > 0, grad_hidden, 0)
        grad_pooled.append((grad_pre @ w1)[:, :, None, None])
        grad_weight1 = grad_weight1 + grad_pre.T @ as_np(pooled)[:, :, 0, 0]
        grad_bias1 = grad_bias1 + grad_pre.sum(axis=0)
        hidden_sum = hidden_sum + hidden
    grad_weight2 = g.T @ hidden_sum
    grad_bias2 = len(descriptors) * g.sum(axis=0)
    grad_max = grad_pooled[1] if max_ is not None else None
    return grad_pooled[0], grad_max, grad_weight1, grad_bias1, grad_weight2, grad_bias2


def _se_logits_np(x, weight1, bias1, weight2, bias2, with_max_pool):
    """The channel statistics of x (tensors) and SE's logits from them, stored in x's dtype."""
    avg, max_ = (torch.from_numpy(s).to(_dtype(x)) for s in channel_stats_np(x))
    second = max_ if with_max_pool else None
    logits = channel_mlp_np(avg, second, weight1, bias1, weight2, bias2)
    return avg, second, torch.from_numpy(logits).to(_dtype(x))


def channel_mlp_attention_np(x, weight1, bias1, weight2, bias2, with_max_pool):
    """SE's pattern ``x * sigmoid(MLP(avg) [+ MLP(max)])``."""
    *_, logits = _se_logits_np(x, weight1, bias1, weight2, bias2, with_max_pool)
    return sigmoid_gate_np(x, logits)


def channel_mlp_attention_grad_np(x, weight1, bias1, weight2, bias2, with_max_pool, grad):
    """Gradients of ``(x, weight1, bias1, weight2, bias2)``: the chain through gate, MLP, pools."""
    avg, second, logits = _se_logits_np(x, weight1, bias1, weight2, bias2, with_max_pool)
    grad_gated, grad_logits = sigmoid_gate_grad_np(x, logits, grad)
    grad_avg, grad_max, *grad_weights = channel_mlp_grad_np(avg, second, weight1, bias1, weight2,
                                                            grad_logits)
    grad_max = np.zeros_like(grad_avg) if grad_max is None else grad_max
    return (grad_gated + channel_stats_grad_np(x, grad_avg, grad_max), *grad_weights)


def _in_dtype(values: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """Float64 ``values`` as a tensor of ``dtype``, as an operator stores an intermediate."""
    return torch.from_numpy(np.ascontiguousarray(values)).to(dtype)


def _cbam_forward_np(x, weight1, bias1, weight2, bias2, conv_weight, bn_weight, bn_bias,
                     running_mean, running_var, training, momentum, eps):
    """CBAM's intermediates (avg, max, channel, pooled, conv), stored in x's dtype, and the
    spatial logits with the new running statistics."""
    dtype = _dtype(x)
    avg, max_ = (_in_dtype(s, dtype) for s in channel_stats_np(x))
    channel = _in_dtype(channel_mlp_np(avg, max_, weight1, bias1, weight2, bias2), dtype)
    pooled = _in_dtype(gated_spatial_stats_np(x, channel), dtype)
    conv = _in_dtype(same_conv2d_np(pooled, conv_weight), dtype)
    spatial, new_mean, new_var = batch_norm_np(conv, bn_weight, bn_bias, running_mean,
                                               running_var, training, momentum, eps)
    return (avg, max_, channel, pooled, conv), _in_dtype(spatial, dtype), new_mean, new_var


def cbam_mlp_attention_np(x, weight1, bias1, weight2, bias2, conv_weight, bn_weight, bn_bias,
                          running_mean, running_var, training, momentum, eps):
    """CBAM's pattern: the output and the spatial BN's new running mean and variance."""
    (*_, channel, _, _), spatial, new_mean, new_var = _cbam_forward_np(
        x, weight1, bias1, weight2, bias2, conv_weight, bn_weight, bn_bias, running_mean,
        running_var, training, momentum, eps)
    return channel_spatial_gate_np(x, channel, spatial), new_mean, new_var


def cbam_mlp_attention_grad_np(x, weight1, bias1, weight2, bias2, conv_weight, bn_weight, bn_bias,
                               running_mean, running_var, training, eps, grad):
    """Gradients of ``(x, weight1, bias1, weight2, bias2, conv_weight, bn_weight, bn_bias)``:
    the chain through both gates, the batch norm, the convolution, the gated pool, the MLP
    and the channel pools."""
    (avg, max_, channel, pooled, conv), spatial, _, _ = _cbam_forward_np(
        x, weight1, bias1, weight2, bias2, conv_weight, bn_weight, bn_bias, running_mean,
        running_var, training, 0.0, eps)
    grad_gated, grad_channel, grad_spatial = channel_spatial_gate_grad_np(x, channel, spatial,
                                                                          grad)
    grad_conv, grad_bn_weight, grad_bn_bias = batch_norm_grad_np(
        conv, bn_weight, running_mean, running_var, training, eps, grad_spatial)
    grad_pooled, grad_conv_weight = same_conv2d_grad_np(pooled, conv_weight, grad_conv)
    grad_pooled_x, grad_channel_pool = gated_spatial_stats_grad_np(x, channel, grad_pooled)
    grad_avg, grad_max, *grad_mlp = channel_mlp_grad_np(avg, max_, weight1, bias1, weight2,
                                                        grad_channel + grad_channel_pool)
    grad_x = grad_gated + grad_pooled_x + channel_stats_grad_np(x, grad_avg, grad_max)
    return (grad_x, *grad_mlp, grad_conv_weight, grad_bn_weight, grad_bn_bias)


def assert_close_or_in_norm(actual, expected, case, terms):
    """Element by element; in float16 and bfloat16 in norm, within ten times the dtype's
    tolerance (its atol scaled to the terms of one sum): a rounded logit can move a
    map's maximum at a position to another channel, and a BN weight's gradient is a sum
    over every position that cancels to a few units."""
    if case.dtype not in LOW_PRECISION:
        assert_close_np(actual, expected, **case.sum_tolerance(terms))
        return
    error = np.linalg.norm(actual.detach().cpu().double().numpy() - expected)
    atol = case.sum_tolerance(terms)['atol']
    bound = 10 * (case.tolerance['rtol'] * np.linalg.norm(expected) + atol)
    assert error <= bound, (error, bound)


def grads_of(outputs, inputs, grads):
    """``torch.autograd.grad`` of ``outputs`` (a tensor or tuple) with ``grads``, None if unused."""
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs, )
    grads = grads if isinstance(grads, (tuple, list)) else (grads, )
    return torch.autograd.grad(outputs, inputs, grads, allow_unused=True)


def assert_bitwise_or_close(first, second, device: str, tolerance: dict) -> None:
    """Tensors equal bit for bit on the CPU, within ``tolerance`` elsewhere (atomics).

    A sum taken in another order differs by rounding relative to its terms, not
    to its result: an element that cancels to near zero (cuDNN's weight gradient
    on an H200: 2.7e-6 on 0.073, in a tensor whose largest element is 44) is
    within ``rtol`` of the largest element of its tensor.
    """
    for a, b in zip(first, second):
        if device == 'cpu':
            assert torch.equal(a, b)
        else:
            scale = b.detach().abs().max().item() if b.numel() else 0.0
            atol = max(tolerance['atol'], tolerance['rtol'] * scale)
            torch.testing.assert_close(a, b, rtol=tolerance['rtol'], atol=atol)


def assert_rejected(call, message: str) -> None:
    """``call()`` raises one ValueError whose text is exactly ``message``, unchained.

    Both paths run the same C++ check, so the text (``autola_mm::<op>: ...``)
    is the same on both, and no layer wraps or repeats it.
    """
    try:
        call()
    except ValueError as error:
        assert str(error) == message
        assert error.__cause__ is None and error.__context__ is None
    else:
        raise AssertionError(f'no ValueError; expected {message!r}')


def assert_wide_logits_match_reference(device: str, build, grad: bool, atol: float) -> None:
    """SE's or CBAM's pattern with float64 logits under the device's autocast, as the reference.

    ``build()`` makes the module (a logit network returning float64, with a
    ``reference_forward``); its ``forward`` and a twin's ``reference_forward``
    run on a float32 (2, 4, 5, 5) map under autocast (bfloat16 on the CPU,
    float16 elsewhere), both giving float64; with ``grad``, the map's gradient
    is finite and every gradient matches too.
    """
    torch.manual_seed(0)
    module, twin = build().to(device), build().to(device)
    twin.load_state_dict(module.state_dict())
    x = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(5)).to(device)
    grad_out = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(6),
                           dtype=torch.float64).to(device)
    results = []
    for forward, mod in ((module.forward, module), (twin.reference_forward, twin)):
        inp = x.clone().requires_grad_(grad)
        with torch.autocast(device, dtype=torch.bfloat16 if device == 'cpu' else torch.float16):
            with torch.set_grad_enabled(grad):
                out = forward(inp)
        assert out.dtype == torch.float64
        results.append([out])
        if grad:
            out.backward(grad_out)
            assert torch.isfinite(inp.grad).all()
            results[-1] += [inp.grad] + [p.grad for p in mod.parameters()]
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, rtol=1.6e-2, atol=atol)


def assert_double_backward_refused(module: torch.nn.Module, pattern: str) -> None:
    """``create_graph=True`` through ``module`` (on the compiled Python Function of
    ``pattern``) is refused by name where it is asked."""
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    with pytest.raises(RuntimeError, match=rf'^{pattern}: the compiled backward is not '
                       r'differentiable \(create_graph=True\); run higher-order gradients on '
                       r'the reference path \(AUTOLA_OPS=reference\)$'):
        torch.autograd.grad(module(x).pow(2).sum(), x, create_graph=True)
