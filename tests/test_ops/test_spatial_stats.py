"""spatial_stats: maximum and mean over channels, on both paths, every device and dtype."""
import math

import pytest
import torch

from ops_numpy_reference import (LAYOUT_SHAPES, NO_POSITIONS, SHAPES, assert_bitwise_or_close,
                                 assert_close_np, assert_rejected, grads_of, in_layout,
                                 shapes_and_layouts, spatial_stats_grad_np, spatial_stats_np)

# (3, 600, 10, 20) spans several position tiles of the compiled CPU kernels.
SPATIAL_SHAPES = SHAPES + [NO_POSITIONS, (3, 600, 10, 20)]
INPUTS = shapes_and_layouts(SPATIAL_SHAPES, LAYOUT_SHAPES + [(3, 600, 10, 20)])


@pytest.mark.parametrize('shape, layout', INPUTS)
def test_forward_matches_numpy(ops, case, shape, layout):
    x = in_layout(case.randn(*shape), layout)
    stats = ops.spatial_stats(x)
    assert stats.dtype == case.dtype and stats.device == x.device
    expected = spatial_stats_np(x)
    assert_close_np(stats, expected, **case.tolerance)
    assert_close_np(stats[:, :1], expected[:, :1], rtol=0, atol=0)  # max: one of the values


@pytest.mark.parametrize('shape, layout', INPUTS)
def test_backward_matches_numpy(ops, case, shape, layout):
    n, _, h, w = shape
    x = in_layout(case.randn(*shape, seed=1), layout).requires_grad_()
    grad = case.randn(n, 2, h, w, seed=2)
    grad_x, = grads_of(ops.spatial_stats(x), x, grad)
    assert grad_x.dtype == case.dtype and grad_x.shape == x.shape
    assert_close_np(grad_x, spatial_stats_grad_np(x, grad), **case.tolerance)


def test_gradcheck(one_thread, ops, device):
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(ops.spatial_stats, (x, ))


def test_backward_is_deterministic(ops, case):
    x = case.randn(3, 600, 10, 20, seed=3)
    x[:, 100:110] = 0  # ties
    x.requires_grad_()
    grad = case.randn(3, 2, 10, 20, seed=4)
    first, second = (grads_of(ops.spatial_stats(x), x, grad) for _ in range(2))
    assert_bitwise_or_close(first, second, case.device, case.tolerance)


def test_max_gradient_is_split_among_ties(ops, device):
    # Position (0, 0): channels 0 and 2 tie at 2; position (0, 1): channel 1 wins.
    x = torch.tensor([[[[2., 0.]], [[1., 4.]], [[2., -1.]]]], device=device, requires_grad=True)
    stats = ops.spatial_stats(x)
    torch.testing.assert_close(stats, torch.tensor([[[[2., 4.]], [[5 / 3, 1.]]]], device=device))
    stats.backward(torch.tensor([[[[6., 6.]], [[3., 0.]]]], device=device))
    expected = torch.tensor([[[[3. + 1., 0.]], [[1., 6.]], [[3. + 1., 0.]]]], device=device)
    torch.testing.assert_close(x.grad, expected, rtol=0, atol=1e-7)


def test_nan_and_infinities(ops, case):
    x = case.randn(2, 4, 3, 3, seed=5)
    x[0, 1, 0, 0] = math.nan  # NaN wins the max over larger values after it
    x[0, 3, 0, 0] = 100
    x[0, :, 1, 1] = -math.inf  # every channel -inf: max and mean -inf
    x[1, 2, 2, 2] = math.inf
    x[1, 0, 0, 1], x[1, 3, 0, 1] = math.inf, -math.inf  # the mean of inf and -inf is NaN
    stats = ops.spatial_stats(x)
    expected = spatial_stats_np(x)
    assert math.isnan(stats[0, 0, 0, 0].item()) and math.isnan(stats[0, 1, 0, 0].item())
    assert_close_np(stats, expected, equal_nan=True, **case.tolerance)


def test_empty_batch_and_empty_map(ops, device):
    for shape in [(0, 3, 4, 4), NO_POSITIONS]:
        x = torch.randn(shape, device=device, requires_grad=True)
        stats = ops.spatial_stats(x)
        assert stats.shape == (shape[0], 2, shape[2], shape[3])
        stats.sum().backward()
        assert x.grad.shape == shape


@pytest.mark.parametrize('shape, message', [
    ((3, 4, 5), 'x must be a 4-D (N, C, H, W) feature map, got shape [3, 4, 5]'),
    ((1, 0, 3, 3), 'x must have at least one channel (C > 0) to pool over, got shape [1, 0, 3, 3]'),
])
def test_bad_input_is_rejected(ops, device, shape, message):
    assert_rejected(lambda: ops.spatial_stats(torch.randn(shape, device=device)),
                    f'autola_mm::spatial_stats: {message}')
