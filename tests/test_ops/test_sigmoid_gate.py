"""sigmoid_gate: x * sigmoid(logits) for channel, spatial and full logits, on both paths."""
import math

import pytest
import torch

from autola_mm.ops import active_ops_path, reference, sigmoid_gate
from ops_numpy_reference import LAYOUTS, assert_close_np, in_layout, sigmoid_gate_np

SHAPES = [(2, 5, 6, 7), (1, 3, 33, 33), (2, 4, 1, 1), (3, 70, 9, 10)]
LOGITS = ('channel', 'spatial', 'full')


def logits_shape(shape, kind):
    n, c, h, w = shape
    return {'channel': (n, c, 1, 1), 'spatial': (n, 1, h, w), 'full': (n, c, h, w)}[kind]


def make_inputs(shape, kind, layout, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = in_layout(torch.randn(shape, generator=gen, dtype=dtype), layout)
    logits = 4 * torch.randn(logits_shape(shape, kind), generator=gen, dtype=dtype)
    return x, in_layout(logits, layout)


@pytest.mark.parametrize('kind', LOGITS)
@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('shape', SHAPES)
def test_forward_matches_numpy(ops_path, shape, layout, kind):
    x, logits = make_inputs(shape, kind, layout)
    assert active_ops_path(x) == ops_path
    assert_close_np(sigmoid_gate(x, logits), sigmoid_gate_np(x, logits))


@pytest.mark.parametrize('kind', LOGITS)
@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('shape', SHAPES)
def test_backward_matches_reference_path(needs_compiled, shape, layout, kind):
    x, logits = make_inputs(shape, kind, layout)
    grad = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    inputs = [t.requires_grad_() for t in (x, logits)]
    ref_inputs = [t.detach().clone().requires_grad_() for t in (x, logits)]
    sigmoid_gate(*inputs).backward(grad)
    reference.sigmoid_gate(*ref_inputs).backward(grad)
    for ours, theirs in zip(inputs, ref_inputs):
        torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kind', LOGITS)
def test_gradcheck(ops_path, kind):
    x, logits = make_inputs((2, 3, 4, 5), kind, 'contiguous', dtype=torch.float64)
    assert torch.autograd.gradcheck(sigmoid_gate, (x.requires_grad_(), logits.requires_grad_()))


def test_hand_computed_gate_and_gradient(ops_path):
    # sigmoid(0) = 1/2 and sigmoid(ln 3) = 3/4; d sigmoid = s (1 - s).
    x = torch.tensor([[[[2., -4.]], [[8., 1.]]]], requires_grad=True)
    logits = torch.tensor([0., math.log(3.)]).view(1, 2, 1, 1).requires_grad_()
    out = sigmoid_gate(x, logits)
    torch.testing.assert_close(out, torch.tensor([[[[1., -2.]], [[6., .75]]]]))
    out.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[[[.5, .5]], [[.75, .75]]]]))
    torch.testing.assert_close(logits.grad, torch.tensor([[[[-2 * .25]], [[9 * 3 / 16]]]]))


def test_extreme_logits_saturate(ops_path):
    x = torch.ones(1, 3, 1, 1)
    logits = torch.tensor([-200., 0., 200.]).view(1, 3, 1, 1)
    torch.testing.assert_close(sigmoid_gate(x, logits).flatten(), torch.tensor([0., .5, 1.]))


@pytest.mark.parametrize('kind', LOGITS)
def test_empty_batch(ops_path, kind):
    x, logits = make_inputs((0, 3, 4, 4), kind, 'contiguous')
    x.requires_grad_()
    logits.requires_grad_()
    out = sigmoid_gate(x, logits)
    assert out.shape == (0, 3, 4, 4)
    out.sum().backward()
    assert x.grad.shape == x.shape and logits.grad.shape == logits.shape


@pytest.mark.parametrize('logits, message', [
    (torch.randn(2, 3, 1, 1), r'logits must have shape \(N, C, 1, 1\), \(N, 1, H, W\) or'),
    (torch.randn(2, 4, 5, 1), r'got \(2, 4, 5, 1\)'),
])
def test_bad_logits_are_rejected(ops_path, logits, message):
    with pytest.raises(ValueError, match=message):
        sigmoid_gate(torch.randn(2, 4, 5, 6), logits)


def test_mixed_dtypes_take_the_reference_path(monkeypatch):
    x, logits = torch.randn(2, 4, 5, 6), torch.randn(2, 4, 1, 1, dtype=torch.float64)
    monkeypatch.delenv('AUTOLA_OPS', raising=False)
    out = sigmoid_gate(x, logits)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, x.double() * torch.sigmoid(logits))
    monkeypatch.setenv('AUTOLA_OPS', 'compiled')
    with pytest.raises(RuntimeError, match=r'torch.float32 on cpu, torch.float64 on cpu'):
        sigmoid_gate(x, logits)
