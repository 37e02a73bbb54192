"""sigmoid_gate: x * sigmoid(logits) for channel, spatial and full logits, on both paths."""
import math

import pytest
import torch

from ops_numpy_reference import (NO_POSITIONS, SHAPES, assert_bitwise_or_close, assert_close_np,
                                 assert_rejected, grads_of, in_layout, shapes_and_layouts,
                                 sigmoid_gate_grad_np, sigmoid_gate_np)

LOGITS = ('channel', 'spatial', 'full')
GATE_SHAPES = SHAPES + [NO_POSITIONS]


def logits_shape(shape, kind):
    n, c, h, w = shape
    return {'channel': (n, c, 1, 1), 'spatial': (n, 1, h, w), 'full': (n, c, h, w)}[kind]


def make_inputs(case, shape, kind, layout='contiguous', seed=0):
    """``x``, ``logits`` of ``kind`` (both in ``layout``) and the output's gradient."""
    x = in_layout(case.randn(*shape, seed=seed), layout)
    logits = in_layout(4 * case.randn(*logits_shape(shape, kind), seed=seed + 1), layout)
    return x, logits, case.randn(*shape, seed=seed + 2)


@pytest.mark.parametrize('kind', LOGITS)
@pytest.mark.parametrize('shape, layout', shapes_and_layouts(GATE_SHAPES))
def test_forward_matches_numpy(ops, case, shape, layout, kind):
    x, logits, _ = make_inputs(case, shape, kind, layout)
    out = ops.sigmoid_gate(x, logits)
    assert out.dtype == case.dtype and out.device == x.device
    assert_close_np(out, sigmoid_gate_np(x, logits), **case.tolerance)


@pytest.mark.parametrize('kind', LOGITS)
@pytest.mark.parametrize('shape, layout', shapes_and_layouts(GATE_SHAPES))
def test_backward_matches_numpy(ops, case, shape, layout, kind):
    x, logits, grad = make_inputs(case, shape, kind, layout, seed=3)
    inputs = (x.requires_grad_(), logits.requires_grad_())
    grads = grads_of(ops.sigmoid_gate(*inputs), inputs, grad)
    for actual, expected, inp in zip(grads, sigmoid_gate_grad_np(x, logits, grad), inputs):
        assert actual.dtype == case.dtype and actual.shape == inp.shape
        assert_close_np(actual, expected, **case.tolerance)


@pytest.mark.parametrize('kind', LOGITS)
def test_gradcheck(one_thread, ops, device, kind):
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, device=device, requires_grad=True)
    logits = torch.randn(logits_shape(x.shape, kind), dtype=torch.float64, device=device,
                         requires_grad=True)
    assert torch.autograd.gradcheck(ops.sigmoid_gate, (x, logits))


@pytest.mark.parametrize('kind', LOGITS)
def test_backward_is_deterministic(ops, case, kind):
    x, logits, grad = make_inputs(case, (2, 64, 23, 23), kind, seed=4)
    inputs = (x.requires_grad_(), logits.requires_grad_())
    first, second = (grads_of(ops.sigmoid_gate(*inputs), inputs, grad) for _ in range(2))
    assert_bitwise_or_close(first, second, case.device, case.tolerance)


def test_hand_computed_gate_and_gradient(ops, device):
    # sigmoid(0) = 1/2 and sigmoid(ln 3) = 3/4; d sigmoid = s (1 - s).
    x = torch.tensor([[[[2., -4.]], [[8., 1.]]]], device=device, requires_grad=True)
    logits = torch.tensor([0., math.log(3.)], device=device).view(1, 2, 1, 1).requires_grad_()
    out = ops.sigmoid_gate(x, logits)
    torch.testing.assert_close(out, torch.tensor([[[[1., -2.]], [[6., .75]]]], device=device))
    out.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[[[.5, .5]], [[.75, .75]]]], device=device))
    torch.testing.assert_close(logits.grad,
                               torch.tensor([[[[-2 * .25]], [[9 * 3 / 16]]]], device=device))


def test_extreme_and_infinite_logits_saturate(ops, case):
    x = torch.ones(1, 5, 1, 1, dtype=case.dtype, device=case.device, requires_grad=True)
    logits = torch.tensor([-math.inf, -200., 0., 200., math.inf], dtype=case.dtype,
                          device=case.device).view(1, 5, 1, 1).requires_grad_()
    out = ops.sigmoid_gate(x, logits)
    # sigmoid(-200) is 7e-88, 0 in every floating dtype but float64: the gates are exact.
    exact = dict(rtol=0, atol=0)
    torch.testing.assert_close(out.flatten(), torch.tensor([0., 0., .5, 1., 1.]).to(out), **exact)
    grad_x, grad_logits = grads_of(out, (x, logits), torch.ones_like(out))
    torch.testing.assert_close(grad_x.flatten(), torch.tensor([0., 0., .5, 1., 1.]).to(out),
                               **exact)
    torch.testing.assert_close(grad_logits.flatten(),
                               torch.tensor([0., 0., .25, 0., 0.]).to(out), **exact)


def test_nan_and_infinite_maps_propagate(ops, case):
    x = torch.tensor([math.nan, math.inf, -math.inf, math.inf, 1.], dtype=case.dtype,
                     device=case.device).view(1, 1, 1, 5)
    logits = torch.tensor([0., 0., 0., -math.inf, math.nan], dtype=case.dtype,
                          device=case.device).view(1, 1, 1, 5)
    out = ops.sigmoid_gate(x, logits)
    # inf * sigmoid(-inf) = inf * 0 is NaN, as in x * torch.sigmoid(logits).
    assert_close_np(out, sigmoid_gate_np(x, logits), equal_nan=True, **case.tolerance)
    assert torch.isnan(out[0, 0, 0, [0, 3, 4]]).all()


@pytest.mark.parametrize('kind', LOGITS)
def test_empty_batch_and_empty_map(ops, device, kind):
    for shape in [(0, 3, 4, 4), NO_POSITIONS]:
        x = torch.randn(shape, device=device, requires_grad=True)
        logits = torch.randn(logits_shape(shape, kind), device=device, requires_grad=True)
        out = ops.sigmoid_gate(x, logits)
        assert out.shape == shape
        out.sum().backward()
        assert x.grad.shape == x.shape and logits.grad.shape == logits.shape
        assert not logits.grad.any()


@pytest.mark.parametrize('logits_shape, got', [((2, 3, 1, 1), '[2, 3, 1, 1]'),
                                               ((2, 4, 5, 1), '[2, 4, 5, 1]'),
                                               ((4, 1, 1), '[4, 1, 1]')])
def test_bad_logits_are_rejected(ops, device, logits_shape, got):
    x, logits = torch.randn(2, 4, 5, 6, device=device), torch.randn(logits_shape, device=device)
    assert_rejected(
        lambda: ops.sigmoid_gate(x, logits),
        'autola_mm::sigmoid_gate: logits must have shape (N, C, 1, 1), (N, 1, H, W) or '
        f'(N, C, H, W) for x of shape [2, 4, 5, 6], got {got}')


def test_mixed_dtypes_are_rejected(ops, device):
    x = torch.randn(2, 4, 5, 6, device=device)
    logits = torch.randn(2, 4, 1, 1, dtype=torch.float64, device=device)
    assert_rejected(lambda: ops.sigmoid_gate(x, logits),
                    "autola_mm::sigmoid_gate: logits must have x's dtype Float, got Double")
    assert_rejected(lambda: ops.sigmoid_gate(logits.expand(2, 4, 5, 6), x[:, :1]),
                    "autola_mm::sigmoid_gate: logits must have x's dtype Double, got Float")


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_logits_on_another_device_are_rejected(ops):
    x = torch.randn(2, 4, 5, 6, device='cuda')
    assert_rejected(lambda: ops.sigmoid_gate(x, torch.randn(2, 4, 1, 1)),
                    "autola_mm::sigmoid_gate: logits must be on x's device cuda:0, got cpu")


@pytest.mark.parametrize('kind', LOGITS)
def test_cpu_autocast_promotes_to_the_widest_dtype(ops, kind):
    # Under CPU autocast the pools and gates take the widest dtype of their inputs.
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 4, 5, generator=gen, requires_grad=True)
    low = torch.randn(logits_shape(x.shape, kind), generator=gen).bfloat16().requires_grad_()
    grad = torch.randn(2, 3, 4, 5, generator=gen)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = ops.sigmoid_gate(x, low)
    assert out.dtype == torch.float32
    # The reference's torch.sigmoid of bfloat16 logits rounds to bfloat16 before the product.
    tolerance = dict(rtol=1e-5, atol=1e-6) if ops.__name__.endswith('compiled') else dict(
        rtol=1.6e-2, atol=1.6e-2)
    assert_close_np(out, sigmoid_gate_np(x, low), **tolerance)
    grad_x, grad_logits = grads_of(out, (x, low), grad)
    assert grad_x.dtype == torch.float32 and grad_logits.dtype == torch.bfloat16
    expected_x, expected_logits = sigmoid_gate_grad_np(x, low, grad)
    assert_close_np(grad_x, expected_x, **tolerance)
    assert_close_np(grad_logits, expected_logits, rtol=1.6e-2, atol=1.6e-2)

