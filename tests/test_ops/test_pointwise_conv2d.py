"""pointwise_conv2d: the 1 x 1 convolution as matrix products, on both paths."""
import pytest
import torch

from autola_mm.ops import active_ops_path, pointwise_conv2d, reference
from ops_numpy_reference import LAYOUTS, assert_close_np, in_layout, pointwise_conv2d_np

# (N, C, C_out, H, W)
SHAPES = [(2, 5, 7, 6, 4), (3, 40, 32, 9, 9), (2, 6, 3, 1, 1)]


def conv_inputs(shape, seed=0, dtype=torch.float32):
    n, c, c_out, h, w = shape
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, c, h, w, generator=gen, dtype=dtype),
            torch.randn(c_out, c, 1, 1, generator=gen, dtype=dtype))


@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('shape', SHAPES)
def test_forward_matches_numpy(ops_path, shape, layout):
    x, weight = conv_inputs(shape)
    x = in_layout(x, layout)
    assert active_ops_path(x, weight) == ops_path
    assert_close_np(pointwise_conv2d(x, weight), pointwise_conv2d_np(x, weight), atol=1e-5)


@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('shape', SHAPES)
def test_backward_matches_reference_path(needs_compiled, shape, layout):
    x, weight = conv_inputs(shape, seed=1)
    grads = []
    for conv in (pointwise_conv2d, reference.pointwise_conv2d):
        inputs = [in_layout(x, layout).requires_grad_(), weight.clone().requires_grad_()]
        out = conv(*inputs)
        grads.append(torch.autograd.grad(out, inputs, torch.ones_like(out) + out.detach()))
    for ours, theirs in zip(*grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-4)


def test_gradcheck(ops_path):
    x, weight = conv_inputs((2, 4, 3, 3, 5), dtype=torch.float64)
    assert torch.autograd.gradcheck(pointwise_conv2d,
                                    (x.requires_grad_(), weight.requires_grad_()))


def test_empty_batch(ops_path):
    x, weight = conv_inputs((0, 4, 3, 5, 5))
    x.requires_grad_()
    weight.requires_grad_()
    out = pointwise_conv2d(x, weight)
    assert out.shape == (0, 3, 5, 5)
    out.sum().backward()
    assert x.grad.shape == x.shape and torch.equal(weight.grad, torch.zeros(3, 4, 1, 1))


@pytest.mark.parametrize('weight, message', [
    (torch.randn(3, 4, 3, 3), r'shape \(C_out, C, 1, 1\)'),
    (torch.randn(3, 5, 1, 1), r'reads 5 channels, but x of shape \(2, 4, 5, 5\) has 4'),
])
def test_bad_input_is_rejected(ops_path, weight, message):
    with pytest.raises(ValueError, match=message):
        pointwise_conv2d(torch.randn(2, 4, 5, 5), weight)
