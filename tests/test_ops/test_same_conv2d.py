"""same_conv2d: the stride-1, size-keeping convolution of the gates, on both paths."""
import pytest
import torch

from autola_mm.ops import active_ops_path, reference, same_conv2d
from ops_numpy_reference import LAYOUTS, assert_close_np, in_layout, same_conv2d_np

# (N, C, C_out, H, W, kernel, dilation, groups): HOGA's depthwise 3x3 (plain
# and dilated), the channel pool's 7x7 and dilated 3x3 (2 -> 1) and 2 -> 2
# depthwise, a 4 -> 4 pointwise, a grouped conv, a kernel wider than the map.
CASES = [
    (2, 4, 4, 6, 7, 3, 1, 4),
    (2, 4, 4, 9, 8, 3, 2, 4),
    (3, 2, 1, 10, 11, 7, 1, 1),
    (2, 2, 1, 7, 6, 3, 2, 1),
    (2, 2, 2, 5, 5, 3, 1, 2),
    (2, 4, 4, 5, 6, 1, 1, 1),
    (2, 6, 4, 5, 5, 3, 1, 2),
    (1, 3, 3, 2, 3, 5, 2, 3),
]


def conv_inputs(case, seed=0, dtype=torch.float32):
    n, c, c_out, h, w, k, dilation, groups = case
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=gen, dtype=dtype)
    weight = torch.randn(c_out, c // groups, k, k, generator=gen, dtype=dtype)
    return x, weight, dilation, groups


@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('case', CASES)
def test_forward_matches_numpy(ops_path, case, layout):
    x, weight, dilation, groups = conv_inputs(case)
    x = in_layout(x, layout)
    assert active_ops_path(x, weight) == ops_path
    assert_close_np(same_conv2d(x, weight, dilation, groups),
                    same_conv2d_np(x, weight, dilation, groups))


@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('case', CASES)
def test_backward_matches_reference_path(needs_compiled, case, layout):
    x, weight, dilation, groups = conv_inputs(case, seed=1)
    grads = []
    for conv in (same_conv2d, reference.same_conv2d):
        inputs = [in_layout(x, layout).requires_grad_(), weight.clone().requires_grad_()]
        out = conv(*inputs, dilation, groups)
        grads.append(torch.autograd.grad(out, inputs, torch.ones_like(out) + out.detach()))
    for ours, theirs in zip(*grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-4)


def test_channel_slices_are_read_in_place(ops_path):
    x = torch.randn(2, 12, 5, 6)
    group = x[:, 4:8]
    assert not group.is_contiguous()
    weight = torch.randn(4, 1, 3, 3)
    assert_close_np(same_conv2d(group, weight, 1, 4), same_conv2d_np(group, weight, 1, 4))


@pytest.mark.parametrize('case', [CASES[1], CASES[2], CASES[6]])
def test_gradcheck(ops_path, case):
    x, weight, dilation, groups = conv_inputs(case, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda a, b: same_conv2d(a, b, dilation, groups),
        (x[:1, :, :5, :5].clone().requires_grad_(), weight.requires_grad_()))


def test_weight_gradient_does_not_depend_on_the_thread_count(needs_compiled):
    x, weight, dilation, groups = conv_inputs((8, 4, 4, 12, 12, 3, 1, 4), seed=2)
    x.requires_grad_()
    weight.requires_grad_()
    threads = torch.get_num_threads()
    grads = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            out = same_conv2d(x, weight, dilation, groups)
            grads.append(torch.autograd.grad(out.square().sum(), (x, weight)))
    finally:
        torch.set_num_threads(threads)
    for one, two in zip(*grads):
        assert torch.equal(one, two)


def test_empty_batch_and_one_pixel_maps(ops_path):
    weight = torch.randn(4, 1, 3, 3, requires_grad=True)
    empty = torch.randn(0, 4, 5, 5, requires_grad=True)
    out = same_conv2d(empty, weight, 1, 4)
    assert out.shape == (0, 4, 5, 5)
    out.sum().backward()
    assert empty.grad.shape == empty.shape and torch.equal(weight.grad, torch.zeros(4, 1, 3, 3))
    pixel = torch.randn(3, 4, 1, 1)
    # A 3x3 kernel on a 1x1 map sees only its centre tap.
    expected = pixel * weight.detach()[:, 0, 1, 1].view(1, 4, 1, 1)
    torch.testing.assert_close(same_conv2d(pixel, weight, 1, 4), expected)


@pytest.mark.parametrize('weight, dilation, groups, message', [
    (torch.randn(4, 1, 2, 2), 1, 4, 'odd sizes'),
    (torch.randn(4, 2, 3, 3), 1, 4, r'reads 8 channels with groups=4.*has 4'),
    (torch.randn(4, 1, 3, 3), 1, 3, 'multiples of groups=3'),
    (torch.randn(4, 1, 3, 3), 0, 4, 'dilation must be a positive int'),
    (torch.randn(4, 3, 3), 1, 4, 'weight must be 4-D'),
])
def test_bad_input_is_rejected(ops_path, weight, dilation, groups, message):
    with pytest.raises(ValueError, match=message):
        same_conv2d(torch.randn(2, 4, 5, 5), weight, dilation, groups)
