"""The attention core in float64 numpy, and test inputs in several memory layouts.

Written independently of ``autola_mm.ops.reference``: the tests hold both
paths of ``autola_mm.ops`` to these formulas.
"""
import numpy as np
import torch

LAYOUTS = ('contiguous', 'channels_last', 'strided')


def in_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """``x`` with the same values, stored contiguously, channels-last or with a stride."""
    if layout == 'channels_last':
        return x.contiguous(memory_format=torch.channels_last)
    if layout == 'strided':
        n, c, h, w = x.shape
        wide = torch.zeros(n, c, h, 2 * w, dtype=x.dtype)
        wide[..., ::2] = x
        strided = wide[..., ::2]
        assert not strided.is_contiguous()
        return strided
    return x.contiguous()


def assert_layout_invariant(module: torch.nn.Module, shape, layout: str) -> None:
    """``module`` gives the same output and gradients on x stored in ``layout`` as contiguous."""
    x, grad = torch.randn(shape), torch.randn(shape)
    results = []
    for inp in (x.clone(), in_layout(x, layout)):
        inp.requires_grad_()
        module.zero_grad(set_to_none=True)
        out = module(inp)
        out.backward(grad)
        results.append([out, inp.grad] + [p.grad for p in module.parameters()])
    for ours, theirs in zip(*results):
        torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-6)


def sigmoid_np(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def as_np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def channel_stats_np(x):
    x = as_np(x)
    return x.mean(axis=(2, 3), keepdims=True), x.max(axis=(2, 3), keepdims=True)


def spatial_stats_np(x):
    x = as_np(x) if isinstance(x, torch.Tensor) else x
    return np.concatenate((x.max(axis=1, keepdims=True), x.mean(axis=1, keepdims=True)), 1)


def sigmoid_gate_np(x, logits):
    return as_np(x) * sigmoid_np(as_np(logits))


def gated_spatial_stats_np(x, channel_logits):
    return spatial_stats_np(sigmoid_gate_np(x, channel_logits))


def channel_spatial_gate_np(x, channel_logits, spatial_logits):
    return sigmoid_gate_np(x, channel_logits) * sigmoid_np(as_np(spatial_logits))


def assert_close_np(actual: torch.Tensor, expected: np.ndarray, rtol=1e-5, atol=1e-6):
    """``actual`` equals the float64 numpy ``expected`` within float32 tolerance."""
    assert tuple(actual.shape) == expected.shape
    np.testing.assert_allclose(as_np(actual), expected, rtol=rtol, atol=atol)


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
