"""spatial_stats: maximum and mean over channels, on both paths."""
import pytest
import torch

from autola_mm.ops import active_ops_path, reference, spatial_stats
from ops_numpy_reference import LAYOUTS, assert_close_np, in_layout, spatial_stats_np

# (3, 600, 10, 20) spans several position tiles of the compiled backward.
SHAPES = [(2, 5, 6, 7), (1, 3, 33, 33), (2, 4, 1, 1), (3, 600, 10, 20)]


@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('shape', SHAPES)
def test_forward_matches_numpy(ops_path, shape, layout):
    x = in_layout(torch.randn(shape, generator=torch.Generator().manual_seed(0)), layout)
    assert active_ops_path(x) == ops_path
    assert_close_np(spatial_stats(x), spatial_stats_np(x))


@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('shape', SHAPES)
def test_backward_matches_reference_path(needs_compiled, shape, layout):
    gen = torch.Generator().manual_seed(1)
    x = in_layout(torch.randn(shape, generator=gen), layout).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    grad = torch.randn(shape[0], 2, shape[2], shape[3], generator=gen)
    spatial_stats(x).backward(grad)
    reference.spatial_stats(x_ref).backward(grad)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)


def test_gradcheck(ops_path):
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(spatial_stats, (x, ))


def test_max_gradient_is_split_among_ties(ops_path):
    # Position (0, 0): channels 0 and 2 tie at 2; position (0, 1): channel 1 wins.
    x = torch.tensor([[[[2., 0.]], [[1., 4.]], [[2., -1.]]]], requires_grad=True)
    stats = spatial_stats(x)
    torch.testing.assert_close(stats, torch.tensor([[[[2., 4.]], [[5 / 3, 1.]]]]))
    grad = torch.tensor([[[[6., 6.]], [[3., 0.]]]])
    stats.backward(grad)
    expected = torch.tensor([[[[3. + 1., 0.]], [[1., 6.]], [[3. + 1., 0.]]]])
    torch.testing.assert_close(x.grad, expected, rtol=0, atol=1e-7)


def test_empty_batch(ops_path):
    x = torch.randn(0, 3, 4, 4, requires_grad=True)
    stats = spatial_stats(x)
    assert stats.shape == (0, 2, 4, 4)
    stats.sum().backward()
    assert x.grad.shape == (0, 3, 4, 4)


@pytest.mark.parametrize('bad, message', [
    (torch.randn(3, 4, 5), 'x must be a 4-D'),
    (torch.randn(1, 0, 3, 3), r'C > 0'),
])
def test_bad_input_is_rejected(ops_path, bad, message):
    with pytest.raises(ValueError, match=message):
        spatial_stats(bad)
