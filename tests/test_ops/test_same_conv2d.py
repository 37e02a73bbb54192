"""same_conv2d: the stride-1, size-keeping convolution of the gates, on both paths.

On CUDA both paths run cuDNN's convolution (tested without TF32, see conftest).
"""
import pytest
import torch

from autola_mm import ops as autola_ops
from ops_numpy_reference import (LAYOUTS, assert_bitwise_or_close, assert_close_np,
                                 assert_rejected, grads_of, in_layout, same_conv2d_grad_np,
                                 same_conv2d_np)

# (N, C, C_out, H, W, kernel, dilation, groups): HOGA's depthwise 3x3 (plain
# and dilated), the channel pool's 7x7 and dilated 3x3 (2 -> 1) and 2 -> 2
# depthwise, 1x1 convolutions of 4, 2 (and, as their input gradients, 1), 3
# and 8 inputs per group, a grouped conv, a kernel wider than the map; then
# an empty batch, 1x1 maps, 49 positions and 1 x 257 positions.
DEPTHWISE = (2, 4, 4, 6, 7, 3, 1, 4)
DILATED_DEPTHWISE = (2, 4, 4, 9, 8, 3, 2, 4)
POOL_7X7 = (3, 2, 1, 10, 11, 7, 1, 1)
GROUPED = (2, 6, 4, 5, 5, 3, 1, 2)
LONG_ROW = (1, 2, 1, 1, 257, 7, 1, 1)
CONVS = [
    DEPTHWISE,
    DILATED_DEPTHWISE,
    POOL_7X7,
    (2, 2, 1, 7, 6, 3, 2, 1),
    (2, 2, 2, 5, 5, 3, 1, 2),
    (2, 4, 4, 5, 6, 1, 1, 1),
    (2, 2, 1, 6, 5, 1, 1, 1),
    (2, 6, 4, 4, 5, 1, 1, 2),
    (2, 8, 2, 3, 7, 1, 1, 1),
    GROUPED,
    (1, 3, 3, 2, 3, 5, 2, 3),
    (0, 4, 4, 5, 5, 3, 1, 4),
    (2, 4, 4, 1, 1, 3, 1, 4),
    (2, 4, 4, 7, 7, 3, 2, 4),
    LONG_ROW,
]


def conv_id(conv) -> str:
    """The test id of a convolution: its numbers joined by ``x``."""
    return 'x'.join(map(str, conv))


CONV_IDS = [conv_id(conv) for conv in CONVS]
#: Every convolution on a contiguous map; three of them in every layout.
INPUTS = [pytest.param(conv, 'contiguous', id=f'{name}-contiguous')
          for conv, name in zip(CONVS, CONV_IDS)] + [
              pytest.param(conv, layout, id=f'{conv_id(conv)}-{layout}')
              for conv in (DEPTHWISE, POOL_7X7, LONG_ROW) for layout in LAYOUTS[1:]]


def conv_inputs(case, conv, layout='contiguous', seed=0):
    """``x`` (in ``layout``), weight, dilation, groups and the output's gradient."""
    n, c, c_out, h, w, k, dilation, groups = conv
    x = in_layout(case.randn(n, c, h, w, seed=seed), layout)
    weight = case.randn(c_out, c // groups, k, k, seed=seed + 1)
    return x, weight, dilation, groups, case.randn(n, c_out, h, w, seed=seed + 2)


def taps(weight):
    return weight.shape[1] * weight.shape[2] * weight.shape[3]


@pytest.mark.parametrize('conv, layout', INPUTS)
def test_forward_matches_numpy(ops, case, conv, layout):
    x, weight, dilation, groups, _ = conv_inputs(case, conv, layout)
    out = ops.same_conv2d(x, weight, dilation, groups)
    assert out.dtype == case.dtype and out.device == x.device
    assert_close_np(out, same_conv2d_np(x, weight, dilation, groups),
                    **case.sum_tolerance(taps(weight)))


@pytest.mark.parametrize('conv, layout', INPUTS)
def test_backward_matches_numpy(ops, case, conv, layout):
    x, weight, dilation, groups, grad = conv_inputs(case, conv, layout, seed=3)
    inputs = (x.requires_grad_(), weight.requires_grad_())
    grads = grads_of(ops.same_conv2d(*inputs, dilation, groups), inputs, grad)
    expected = same_conv2d_grad_np(x, weight, grad, dilation, groups)
    # x's gradient sums over the output channels' taps, a weight's over N x H x W positions.
    terms = (weight.shape[0] // groups * weight.shape[2] * weight.shape[3],
             x.shape[0] * x.shape[2] * x.shape[3])
    for actual, wanted, inp, count in zip(grads, expected, inputs, terms):
        assert actual.dtype == case.dtype and actual.shape == inp.shape
        assert_close_np(actual, wanted, **case.sum_tolerance(count))


@pytest.mark.parametrize('conv', [DEPTHWISE, POOL_7X7], ids=conv_id)
def test_either_gradient_alone_matches_numpy(ops, case, conv):
    """Only x or only the weight requiring a gradient: the backward computes that one alone."""
    x, weight, dilation, groups, grad = conv_inputs(case, conv, seed=5)
    expected = same_conv2d_grad_np(x, weight, grad, dilation, groups)
    terms = (weight.shape[0] // groups * weight.shape[2] * weight.shape[3],
             x.shape[0] * x.shape[2] * x.shape[3])
    for which in (0, 1):
        inputs = [x.detach().clone(), weight.detach().clone()]
        inputs[which].requires_grad_()
        out = ops.same_conv2d(*inputs, dilation, groups)
        (actual, ) = grads_of(out, (inputs[which], ), grad)
        assert actual.dtype == case.dtype and actual.shape == inputs[which].shape
        assert_close_np(actual, expected[which], **case.sum_tolerance(terms[which]))


def test_channel_slices_are_read_in_place(ops, case):
    x = case.randn(2, 12, 5, 6)
    group = x[:, 4:8]
    assert not group.is_contiguous()
    weight = case.randn(4, 1, 3, 3, seed=1)
    assert_close_np(ops.same_conv2d(group, weight, 1, 4), same_conv2d_np(group, weight, 1, 4),
                    **case.sum_tolerance(taps(weight)))


@pytest.mark.parametrize('conv', [DILATED_DEPTHWISE, POOL_7X7, GROUPED], ids=conv_id)
def test_gradcheck(one_thread, ops, device, conv):
    n, c, c_out, _, _, k, dilation, groups = conv
    x = torch.randn(1, c, 5, 5, dtype=torch.float64, device=device, requires_grad=True)
    weight = torch.randn(c_out, c // groups, k, k, dtype=torch.float64, device=device,
                         requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: ops.same_conv2d(a, b, dilation, groups),
                                    (x, weight))


@pytest.mark.parametrize('conv', [DEPTHWISE, POOL_7X7], ids=conv_id)
def test_backward_is_deterministic(ops, case, conv):
    x, weight, dilation, groups, grad = conv_inputs(case, (8, ) + conv[1:], seed=4)
    inputs = (x.requires_grad_(), weight.requires_grad_())
    first, second = (grads_of(ops.same_conv2d(*inputs, dilation, groups), inputs, grad)
                     for _ in range(2))
    assert_bitwise_or_close(first, second, case.device, case.tolerance)


def test_compiled_gradients_do_not_depend_on_the_thread_count(needs_compiled, cpu_float32):
    ops = autola_ops.compiled
    x, weight, dilation, groups, _ = conv_inputs(cpu_float32, (8, 4, 4, 12, 12, 3, 1, 4), seed=2)
    x.requires_grad_()
    weight.requires_grad_()
    threads = torch.get_num_threads()
    grads = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            out = ops.same_conv2d(x, weight, dilation, groups)
            grads.append(torch.autograd.grad(out.square().sum(), (x, weight)))
    finally:
        torch.set_num_threads(threads)
    for one, two in zip(*grads):
        assert torch.equal(one, two)


def test_empty_batch_and_one_pixel_maps(ops, device):
    weight = torch.randn(4, 1, 3, 3, device=device, requires_grad=True)
    empty = torch.randn(0, 4, 5, 5, device=device, requires_grad=True)
    out = ops.same_conv2d(empty, weight, 1, 4)
    assert out.shape == (0, 4, 5, 5)
    out.sum().backward()
    assert empty.grad.shape == empty.shape
    assert torch.equal(weight.grad, torch.zeros(4, 1, 3, 3, device=device))
    pixel = torch.randn(3, 4, 1, 1, device=device)
    # A 3x3 kernel on a 1x1 map sees only its centre tap.
    expected = pixel * weight.detach()[:, 0, 1, 1].view(1, 4, 1, 1)
    torch.testing.assert_close(ops.same_conv2d(pixel, weight, 1, 4), expected)


def test_empty_map_is_rejected(ops, device):
    x = torch.randn(2, 4, 0, 5, device=device)
    with pytest.raises(ValueError, match=r'x must have at least one position \(H \* W > 0\) to '
                       r'convolve, got shape \[2, 4, 0, 5\]'):
        ops.same_conv2d(x, torch.randn(4, 1, 3, 3, device=device), 1, 4)


@pytest.mark.parametrize('weight_shape, dilation, groups, message', [
    ((4, 1, 2, 2), 1, 4, 'the kernel must have odd sizes to keep H x W, got 2 x 2'),
    ((4, 2, 3, 3), 1, 4, 'weight of shape [4, 2, 3, 3] reads 8 channels with groups=4, but x of '
     'shape [2, 4, 5, 5] has 4'),
    ((4, 1, 3, 3), 1, 3, 'the channels of x (4) and of the output (4) must be multiples of '
     'groups=3'),
    ((4, 1, 3, 3), 0, 4, 'dilation must be >= 1, got 0'),
    ((4, 1, 3, 3), 1, 0, 'groups must be >= 1, got 0'),
    ((4, 3, 3), 1, 4, 'weight must be 4-D (out_channels, in_channels / groups, kH, kW), got '
     'shape [4, 3, 3]'),
])
def test_bad_input_is_rejected(ops, device, weight_shape, dilation, groups, message):
    x, weight = torch.randn(2, 4, 5, 5, device=device), torch.randn(weight_shape, device=device)
    assert_rejected(lambda: ops.same_conv2d(x, weight, dilation, groups),
                    f'autola_mm::same_conv2d: {message}')


def test_mixed_dtypes_are_rejected(ops, device):
    x, weight = torch.randn(2, 4, 5, 5, device=device), torch.randn(4, 1, 3, 3, device=device)
    assert_rejected(lambda: ops.same_conv2d(x, weight.double(), 1, 4),
                    "autola_mm::same_conv2d: weight must have x's dtype Float, got Double")


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_autocast_runs_in_float16(ops):
    # Under CUDA autocast the convolutions run in autocast's lower precision, as torch's do.
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(2, 4, 6, 7, generator=gen).cuda().half().requires_grad_()
    weight = torch.randn(4, 1, 3, 3, generator=gen).cuda().requires_grad_()
    with torch.autocast('cuda', dtype=torch.float16):
        out = ops.same_conv2d(x, weight, 1, 4)
    assert out.dtype == torch.float16
    assert_close_np(out, same_conv2d_np(x, weight.half(), 1, 4), rtol=2e-3, atol=2e-3 * 3)
    grad_x, grad_weight = grads_of(out, (x, weight), torch.ones_like(out))
    assert grad_x.dtype == torch.float16 and grad_weight.dtype == torch.float32

