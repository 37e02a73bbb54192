"""pointwise_conv2d: the 1 x 1 convolution as batched matrix products, on both paths."""
import pytest
import torch

from ops_numpy_reference import (LAYOUTS, assert_bitwise_or_close, assert_close_np,
                                 assert_rejected, grads_of, in_layout, pointwise_conv2d_grad_np,
                                 pointwise_conv2d_np)

# (N, C, C_out, H, W): plain, HOGA's projection width, 1x1 maps, an empty
# batch, 49 positions, 1 x 257 positions.
SHAPES = [(2, 5, 7, 6, 4), (3, 40, 32, 9, 9), (2, 6, 3, 1, 1), (0, 4, 3, 5, 5), (2, 8, 8, 7, 7),
          (1, 3, 5, 1, 257)]
SHAPE_IDS = ['x'.join(map(str, shape)) for shape in SHAPES]
#: Every shape on a contiguous map; two of them in every layout.
INPUTS = [pytest.param(shape, 'contiguous', id=f'{name}-contiguous')
          for shape, name in zip(SHAPES, SHAPE_IDS)] + [
              pytest.param(SHAPES[i], layout, id=f'{SHAPE_IDS[i]}-{layout}')
              for i in (0, 1) for layout in LAYOUTS[1:]]


def conv_inputs(case, shape, layout='contiguous', seed=0):
    """``x`` (in ``layout``), the weight and the output's gradient."""
    n, c, c_out, h, w = shape
    return (in_layout(case.randn(n, c, h, w, seed=seed), layout),
            case.randn(c_out, c, 1, 1, seed=seed + 1), case.randn(n, c_out, h, w, seed=seed + 2))


@pytest.mark.parametrize('shape, layout', INPUTS)
def test_forward_matches_numpy(ops, case, shape, layout):
    x, weight, _ = conv_inputs(case, shape, layout)
    out = ops.pointwise_conv2d(x, weight)
    assert out.dtype == case.dtype and out.device == x.device
    assert_close_np(out, pointwise_conv2d_np(x, weight), **case.sum_tolerance(shape[1]))


@pytest.mark.parametrize('shape, layout', INPUTS)
def test_backward_matches_numpy(ops, case, shape, layout):
    n, c, c_out, h, w = shape
    x, weight, grad = conv_inputs(case, shape, layout, seed=3)
    inputs = (x.requires_grad_(), weight.requires_grad_())
    grads = grads_of(ops.pointwise_conv2d(*inputs), inputs, grad)
    expected = pointwise_conv2d_grad_np(x, weight, grad)
    # grad_x sums over C_out, grad_weight over N x H x W.
    for actual, wanted, inp, terms in zip(grads, expected, inputs, (c_out, n * h * w)):
        assert actual.dtype == case.dtype and actual.shape == inp.shape
        assert_close_np(actual, wanted, **case.sum_tolerance(terms))


def test_channel_slices_are_read_in_place(ops, case):
    x = case.randn(2, 12, 5, 6)
    group = x[:, 4:8]
    weight = case.randn(3, 4, 1, 1, seed=1)
    assert_close_np(ops.pointwise_conv2d(group, weight), pointwise_conv2d_np(group, weight),
                    **case.sum_tolerance(4))


def test_gradcheck(one_thread, ops, device):
    x = torch.randn(2, 4, 3, 5, dtype=torch.float64, device=device, requires_grad=True)
    weight = torch.randn(3, 4, 1, 1, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(ops.pointwise_conv2d, (x, weight))


def test_backward_is_deterministic(ops, case):
    x, weight, grad = conv_inputs(case, (8, 40, 32, 9, 9), seed=4)
    inputs = (x.requires_grad_(), weight.requires_grad_())
    first, second = (grads_of(ops.pointwise_conv2d(*inputs), inputs, grad) for _ in range(2))
    assert_bitwise_or_close(first, second, case.device, case.tolerance)


def test_empty_batch(ops, device):
    x = torch.randn(0, 4, 5, 5, device=device, requires_grad=True)
    weight = torch.randn(3, 4, 1, 1, device=device, requires_grad=True)
    out = ops.pointwise_conv2d(x, weight)
    assert out.shape == (0, 3, 5, 5)
    out.sum().backward()
    assert x.grad.shape == x.shape
    assert torch.equal(weight.grad, torch.zeros(3, 4, 1, 1, device=device))


def test_empty_map_is_rejected(ops, device):
    x = torch.randn(2, 4, 0, 5, device=device)
    with pytest.raises(ValueError, match=r'x must have at least one position \(H \* W > 0\) to '
                       r'convolve, got shape \[2, 4, 0, 5\]'):
        ops.pointwise_conv2d(x, torch.randn(3, 4, 1, 1, device=device))


@pytest.mark.parametrize('weight_shape, message', [
    ((3, 4, 3, 3), 'weight must have shape (out_channels, in_channels, 1, 1), got [3, 4, 3, 3]'),
    ((3, 5, 1, 1), 'weight of shape [3, 5, 1, 1] reads 5 channels, but x of shape '
     '[2, 4, 5, 5] has 4'),
    ((3, 4), 'weight must have shape (out_channels, in_channels, 1, 1), got [3, 4]'),
])
def test_bad_input_is_rejected(ops, device, weight_shape, message):
    x, weight = torch.randn(2, 4, 5, 5, device=device), torch.randn(weight_shape, device=device)
    assert_rejected(lambda: ops.pointwise_conv2d(x, weight),
                    f'autola_mm::pointwise_conv2d: {message}')


def test_mixed_dtypes_are_rejected(ops, device):
    x, weight = torch.randn(2, 4, 5, 5, device=device), torch.randn(3, 4, 1, 1, device=device)
    assert_rejected(lambda: ops.pointwise_conv2d(x.double(), weight),
                    "autola_mm::pointwise_conv2d: weight must have x's dtype Double, got Float")
