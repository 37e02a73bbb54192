"""channel_stats: average and maximum over H x W, on both paths, every device and dtype."""
import math

import pytest
import torch

from ops_numpy_reference import (LONG_ROWS, SHAPES, assert_bitwise_or_close, assert_close_np,
                                 assert_rejected, channel_stats_grad_np, channel_stats_np,
                                 grads_of, in_layout, shapes_and_layouts)


def inputs(case, shape, layout='contiguous', seed=0):
    """``x`` in ``layout`` and the gradients of ``(avg, max)``."""
    n, c = shape[:2]
    x = in_layout(case.randn(*shape, seed=seed), layout)
    return x, case.randn(n, c, 1, 1, seed=seed + 1), case.randn(n, c, 1, 1, seed=seed + 2)


@pytest.mark.parametrize('shape, layout', shapes_and_layouts(SHAPES + [LONG_ROWS]))
def test_forward_matches_numpy(ops, case, shape, layout):
    x, _, _ = inputs(case, shape, layout)
    avg, max_ = ops.channel_stats(x)
    assert avg.dtype == max_.dtype == case.dtype and avg.device == x.device
    expected_avg, expected_max = channel_stats_np(x)
    assert_close_np(avg, expected_avg, **case.tolerance)
    assert_close_np(max_, expected_max, rtol=0, atol=0)  # the maximum is one of the values


@pytest.mark.parametrize('shape, layout', shapes_and_layouts(SHAPES + [LONG_ROWS]))
def test_backward_matches_numpy(ops, case, shape, layout):
    x, grad_avg, grad_max = inputs(case, shape, layout, seed=3)
    x.requires_grad_()
    grad_x, = grads_of(ops.channel_stats(x), x, (grad_avg, grad_max))
    assert grad_x.dtype == case.dtype and grad_x.shape == x.shape
    assert_close_np(grad_x, channel_stats_grad_np(x, grad_avg, grad_max), **case.tolerance)


def test_gradcheck(one_thread, ops, device):
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(ops.channel_stats, (x, ))


def test_backward_is_deterministic(ops, case):
    x, grad_avg, grad_max = inputs(case, (2, 64, 23, 23), seed=4)
    x[:, :, 3] = 0  # ties
    x.requires_grad_()
    first, second = (grads_of(ops.channel_stats(x), x, (grad_avg, grad_max)) for _ in range(2))
    assert_bitwise_or_close(first, second, case.device, case.tolerance)


def test_max_gradient_is_split_among_ties(ops, device):
    # Row 0 has its maximum 3 twice, row 1 once; avg's gradient is 1 / 4 each.
    x = torch.tensor([[[[1., 3.], [3., 2.]], [[0., 5.], [-1., 4.]]]], device=device,
                     requires_grad=True)
    avg, max_ = ops.channel_stats(x)
    (avg.sum() * 0 + max_.sum()).backward()
    expected = torch.tensor([[[[0., .5], [.5, 0.]], [[0., 1.], [0., 0.]]]], device=device)
    torch.testing.assert_close(x.grad, expected, rtol=0, atol=0)
    x.grad = None
    avg, max_ = ops.channel_stats(x)
    (2 * avg.sum()).backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 0.5), rtol=0, atol=0)


def test_nan_propagates(ops, case):
    x = torch.zeros(1, 3, 3, 3, dtype=case.dtype, device=case.device)
    x[0, 1, 2, 0] = math.nan
    x[0, 2, 0, 0] = math.nan
    x[0, 2, 2, 2] = 1  # NaN wins over a larger value after it, as torch.amax
    avg, max_ = ops.channel_stats(x)
    assert max_[0, 0].item() == 0 and avg[0, 0].item() == 0
    assert torch.isnan(max_[0, 1:]).all() and torch.isnan(avg[0, 1:]).all()


def test_infinities(ops, case):
    x = case.randn(1, 3, 4, 4, seed=5)
    x[0, 0, 1, 1] = math.inf
    x[0, 0, 2, 3] = math.inf  # two tied infinite maxima
    x[0, 1, 0, 0] = -math.inf
    x[0, 2, 0, 0], x[0, 2, 3, 3] = math.inf, -math.inf
    x.requires_grad_()
    avg, max_ = ops.channel_stats(x)
    expected_avg, expected_max = channel_stats_np(x)
    assert_close_np(avg, expected_avg, equal_nan=True, **case.tolerance)  # inf, -inf, nan
    assert_close_np(max_, expected_max, rtol=0, atol=0)
    grad_avg = torch.zeros_like(avg)
    grad_max = torch.ones_like(max_)
    grad_x, = grads_of((avg, max_), x, (grad_avg, grad_max))
    # The maximum's gradient is split between the two infinite positions.
    assert_close_np(grad_x, channel_stats_grad_np(x, grad_avg, grad_max), rtol=0, atol=0)
    assert grad_x[0, 0, 1, 1].item() == grad_x[0, 0, 2, 3].item() == 0.5


def test_empty_batch(ops, device):
    x = torch.randn(0, 3, 4, 4, device=device, requires_grad=True)
    avg, max_ = ops.channel_stats(x)
    assert avg.shape == max_.shape == (0, 3, 1, 1)
    (avg.sum() + max_.sum()).backward()
    assert x.grad.shape == (0, 3, 4, 4)


@pytest.mark.parametrize('shape, message', [
    ((3, 4, 5), 'x must be a 4-D (N, C, H, W) feature map, got shape [3, 4, 5]'),
    ((1, 2, 0, 3), 'x must have at least one position (H * W > 0) to pool over, '
     'got shape [1, 2, 0, 3]'),
    ((0, 2, 3, 0), 'x must have at least one position (H * W > 0) to pool over, '
     'got shape [0, 2, 3, 0]'),
])
def test_bad_input_is_rejected(ops, device, shape, message):
    assert_rejected(lambda: ops.channel_stats(torch.randn(shape, device=device)),
                    f'autola_mm::channel_stats: {message}')


def test_integer_input_is_rejected(ops, device):
    x = torch.ones(1, 2, 3, 3, dtype=torch.int64, device=device)
    assert_rejected(lambda: ops.channel_stats(x),
                    'autola_mm::channel_stats: x must be a floating point tensor, got Long')


def test_compiled_backward_operator_checks_its_arguments(needs_compiled):
    avg = torch.zeros(1, 2, 1, 1)
    assert_rejected(
        lambda: torch.ops.autola_mm.channel_stats_backward(avg, torch.zeros(1, 3, 1, 1),
                                                           torch.randn(1, 2, 3, 3), avg),
        'autola_mm::channel_stats_backward: grad_max must have shape [1, 2, 1, 1], '
        'got [1, 3, 1, 1]')


def test_float64_matches_numpy(ops, device):
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64, device=device)
    avg, max_ = ops.channel_stats(x)
    expected_avg, expected_max = channel_stats_np(x)
    assert_close_np(avg, expected_avg, rtol=1e-12, atol=1e-14)
    assert_close_np(max_, expected_max, rtol=0, atol=0)
