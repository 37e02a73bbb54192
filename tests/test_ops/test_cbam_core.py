"""CBAM's core, gated_spatial_stats and channel_spatial_gate, on both paths."""
import math

import pytest
import torch

from ops_numpy_reference import (LAYOUT_SHAPES, NO_POSITIONS, SHAPES, assert_bitwise_or_close,
                                 assert_close_np, assert_rejected, channel_spatial_gate_grad_np,
                                 channel_spatial_gate_np, gated_spatial_stats_grad_np,
                                 gated_spatial_stats_np, grads_of, in_layout, shapes_and_layouts)

# (3, 600, 10, 20) spans several position tiles of the compiled CPU kernels.
CORE_SHAPES = SHAPES + [NO_POSITIONS, (3, 600, 10, 20)]
INPUTS = shapes_and_layouts(CORE_SHAPES, LAYOUT_SHAPES + [(3, 600, 10, 20)])


def make_inputs(case, shape, layout='contiguous', seed=0):
    """``x``, channel logits and spatial logits (the maps in ``layout``)."""
    n, c, h, w = shape
    x = in_layout(case.randn(*shape, seed=seed), layout)
    channel_logits = 2 * case.randn(n, c, 1, 1, seed=seed + 1)
    spatial_logits = in_layout(2 * case.randn(n, 1, h, w, seed=seed + 2), layout)
    return x, channel_logits, spatial_logits


@pytest.mark.parametrize('shape, layout', INPUTS)
def test_forward_matches_numpy(ops, case, shape, layout):
    x, channel_logits, spatial_logits = make_inputs(case, shape, layout)
    pooled = ops.gated_spatial_stats(x, channel_logits)
    out = ops.channel_spatial_gate(x, channel_logits, spatial_logits)
    assert pooled.dtype == out.dtype == case.dtype
    assert_close_np(pooled, gated_spatial_stats_np(x, channel_logits), **case.tolerance)
    assert_close_np(out, channel_spatial_gate_np(x, channel_logits, spatial_logits),
                    **case.tolerance)


@pytest.mark.parametrize('shape, layout', INPUTS)
def test_backward_matches_numpy(ops, case, shape, layout):
    n, _, h, w = shape
    inputs = [t.requires_grad_() for t in make_inputs(case, shape, layout, seed=3)]
    x, channel_logits, spatial_logits = inputs
    grad_pooled, grad_out = case.randn(n, 2, h, w, seed=6), case.randn(*shape, seed=7)
    pooled_grads = grads_of(ops.gated_spatial_stats(x, channel_logits), inputs[:2], grad_pooled)
    gate_grads = grads_of(ops.channel_spatial_gate(*inputs), inputs, grad_out)
    expected_pooled = gated_spatial_stats_grad_np(x, channel_logits, grad_pooled)
    expected_gate = channel_spatial_gate_grad_np(*inputs, grad_out)
    for actual, expected, inp in zip(pooled_grads + gate_grads, expected_pooled + expected_gate,
                                     inputs[:2] + inputs):
        assert actual.dtype == case.dtype and actual.shape == inp.shape
        assert_close_np(actual, expected, **case.tolerance)


def test_gradcheck(one_thread, ops, device):
    x, channel_logits, spatial_logits = [
        torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)
        for shape in [(2, 3, 4, 5), (2, 3, 1, 1), (2, 1, 4, 5)]
    ]
    assert torch.autograd.gradcheck(ops.gated_spatial_stats, (x, channel_logits))
    assert torch.autograd.gradcheck(ops.channel_spatial_gate, (x, channel_logits, spatial_logits))


def test_backward_is_deterministic(ops, case):
    shape = (3, 600, 10, 20)
    inputs = [t.requires_grad_() for t in make_inputs(case, shape, seed=8)]
    grad_pooled, grad_out = case.randn(3, 2, 10, 20, seed=9), case.randn(*shape, seed=10)

    def backward():
        return (grads_of(ops.gated_spatial_stats(*inputs[:2]), inputs[:2], grad_pooled) +
                grads_of(ops.channel_spatial_gate(*inputs), inputs, grad_out))

    assert_bitwise_or_close(backward(), backward(), case.device, case.tolerance)


def test_gated_max_gradient_is_split_among_ties(ops, device):
    # Zero logits gate by 1/2: gated channels 0 and 1 tie at 1 on position 0.
    x = torch.tensor([[[[2., 0.]], [[2., 4.]]]], device=device, requires_grad=True)
    channel_logits = torch.zeros(1, 2, 1, 1, device=device, requires_grad=True)
    pooled = ops.gated_spatial_stats(x, channel_logits)
    torch.testing.assert_close(pooled, torch.tensor([[[[1., 2.]], [[1., 1.]]]], device=device))
    pooled.backward(torch.tensor([[[[4., 4.]], [[0., 0.]]]], device=device))
    # d/dx = 1/2 * (4 / 2 ties); d/dlogit_c = sum_p grad_y * x * 1/4.
    torch.testing.assert_close(x.grad, torch.tensor([[[[1., 0.]], [[1., 2.]]]], device=device))
    torch.testing.assert_close(
        channel_logits.grad,
        torch.tensor([[[[2 * 2 / 4]], [[(2 * 2 + 4 * 4) / 4]]]], device=device))


def test_nan_and_infinities(ops, case):
    x, channel_logits, spatial_logits = make_inputs(case, (1, 3, 2, 3), seed=11)
    x[0, 0, 0, 0] = math.nan  # NaN wins the max over channels
    x[0, :, 1, 1] = math.inf
    x[0, 1, 0, 2] = -math.inf
    spatial_logits[0, 0, 1, 2] = math.inf
    spatial_logits[0, 0, 0, 1] = -math.inf
    pooled = ops.gated_spatial_stats(x, channel_logits)
    out = ops.channel_spatial_gate(x, channel_logits, spatial_logits)
    assert math.isnan(pooled[0, 0, 0, 0].item()) and math.isnan(pooled[0, 1, 0, 0].item())
    assert_close_np(pooled, gated_spatial_stats_np(x, channel_logits), equal_nan=True,
                    **case.tolerance)
    assert_close_np(out, channel_spatial_gate_np(x, channel_logits, spatial_logits),
                    equal_nan=True, **case.tolerance)


def test_empty_batch_and_empty_map(ops, device):
    for shape in [(0, 3, 4, 4), NO_POSITIONS]:
        n, c, h, w = shape
        x, channel_logits, spatial_logits = [
            torch.randn(s, device=device, requires_grad=True)
            for s in [shape, (n, c, 1, 1), (n, 1, h, w)]
        ]
        pooled = ops.gated_spatial_stats(x, channel_logits)
        out = ops.channel_spatial_gate(x, channel_logits, spatial_logits)
        assert pooled.shape == (n, 2, h, w) and out.shape == shape
        (pooled.sum() + out.sum()).backward()
        assert x.grad.shape == x.shape and spatial_logits.grad.shape == spatial_logits.shape
        assert channel_logits.grad.shape == channel_logits.shape
        assert not channel_logits.grad.any()


def test_bad_input_is_rejected(ops, device):
    x = torch.randn(2, 4, 5, 6, device=device)
    channel, spatial = torch.randn(2, 4, 1, 1, device=device), torch.randn(2, 1, 5, 6,
                                                                          device=device)
    assert_rejected(
        lambda: ops.gated_spatial_stats(x, spatial),
        'autola_mm::gated_spatial_stats: channel_logits must have shape (N, C, 1, 1) for x of '
        'shape [2, 4, 5, 6], got [2, 1, 5, 6]')
    assert_rejected(
        lambda: ops.channel_spatial_gate(x, channel, channel),
        'autola_mm::channel_spatial_gate: spatial_logits must have shape (N, 1, H, W) for x of '
        'shape [2, 4, 5, 6], got [2, 4, 1, 1]')
    assert_rejected(
        lambda: ops.gated_spatial_stats(x[:, :0], channel[:, :0]),
        'autola_mm::gated_spatial_stats: x must have at least one channel (C > 0) to pool '
        'over, got shape [2, 0, 5, 6]')
    assert_rejected(
        lambda: ops.channel_spatial_gate(x, channel.double(), spatial),
        "autola_mm::channel_spatial_gate: channel_logits must have x's dtype Float, got Double")
