"""channel_stats: average and maximum over H x W, on both paths."""
import numpy as np
import pytest
import torch

from autola_mm.ops import active_ops_path, channel_stats, reference
from ops_numpy_reference import LAYOUTS, assert_close_np, channel_stats_np, in_layout

SHAPES = [(2, 5, 6, 7), (1, 3, 33, 33), (2, 4, 1, 1), (3, 70, 9, 10)]


@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('shape', SHAPES)
def test_forward_matches_numpy(ops_path, shape, layout):
    x = in_layout(torch.randn(shape, generator=torch.Generator().manual_seed(0)), layout)
    assert active_ops_path(x) == ops_path
    avg, max_ = channel_stats(x)
    expected_avg, expected_max = channel_stats_np(x)
    assert_close_np(avg, expected_avg)
    assert_close_np(max_, expected_max, rtol=0, atol=0)


@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('shape', SHAPES)
def test_backward_matches_reference_path(needs_compiled, shape, layout):
    gen = torch.Generator().manual_seed(1)
    x = in_layout(torch.randn(shape, generator=gen), layout).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    grad_avg = torch.randn(shape[0], shape[1], 1, 1, generator=gen)
    grad_max = torch.randn(shape[0], shape[1], 1, 1, generator=gen)
    torch.autograd.backward(channel_stats(x), (grad_avg, grad_max))
    torch.autograd.backward(reference.channel_stats(x_ref), (grad_avg, grad_max))
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)


def test_gradcheck(ops_path):
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(channel_stats, (x, ))


def test_max_gradient_is_split_among_ties(ops_path):
    # Row 0 has its maximum 3 twice, row 1 once; avg's gradient is 1 / 4 each.
    x = torch.tensor([[[[1., 3.], [3., 2.]], [[0., 5.], [-1., 4.]]]], requires_grad=True)
    avg, max_ = channel_stats(x)
    (avg.sum() * 0 + max_.sum()).backward()
    expected = torch.tensor([[[[0., .5], [.5, 0.]], [[0., 1.], [0., 0.]]]])
    torch.testing.assert_close(x.grad, expected, rtol=0, atol=0)
    x.grad = None
    avg, max_ = channel_stats(x)
    (2 * avg.sum()).backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 0.5), rtol=0, atol=0)


def test_nan_propagates_to_max(ops_path):
    x = torch.zeros(1, 2, 3, 3)
    x[0, 1, 2, 0] = float('nan')
    avg, max_ = channel_stats(x)
    assert max_[0, 0].item() == 0 and torch.isnan(max_[0, 1]).all()
    assert torch.isnan(avg[0, 1]).all()


def test_empty_batch(ops_path):
    x = torch.randn(0, 3, 4, 4, requires_grad=True)
    avg, max_ = channel_stats(x)
    assert avg.shape == max_.shape == (0, 3, 1, 1)
    (avg.sum() + max_.sum()).backward()
    assert x.grad.shape == (0, 3, 4, 4)


@pytest.mark.parametrize('bad, message', [
    (torch.randn(3, 4, 5), 'x must be a 4-D'),
    (torch.randn(1, 2, 0, 3), r'H \* W > 0'),
    (torch.ones(1, 2, 3, 3, dtype=torch.int64), 'floating point'),
])
def test_bad_input_is_rejected(ops_path, bad, message):
    with pytest.raises(ValueError, match=message):
        channel_stats(bad)


def test_compiled_kernel_rejects_bad_input_itself(needs_compiled):
    with pytest.raises(ValueError, match='autola_mm::channel_stats: x must be a 4-D'):
        torch.ops.autola_mm.channel_stats(torch.randn(3, 4, 5))
    avg = torch.zeros(1, 2, 1, 1)
    with pytest.raises(ValueError, match='grad_max must have shape'):
        torch.ops.autola_mm.channel_stats_backward(avg, torch.zeros(1, 3, 1, 1),
                                                   torch.randn(1, 2, 3, 3), avg)


def test_float64_matches_numpy(ops_path):
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    avg, max_ = channel_stats(x)
    expected_avg, expected_max = channel_stats_np(x)
    np.testing.assert_allclose(avg.numpy(), expected_avg, rtol=1e-12)
    np.testing.assert_array_equal(max_.numpy(), expected_max)
