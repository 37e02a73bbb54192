"""CBAM's core, gated_spatial_stats and channel_spatial_gate, on both paths."""
import pytest
import torch

from autola_mm.ops import (active_ops_path, channel_spatial_gate, gated_spatial_stats,
                           reference)
from ops_numpy_reference import (LAYOUTS, assert_close_np, channel_spatial_gate_np,
                                 gated_spatial_stats_np, in_layout)

SHAPES = [(2, 5, 6, 7), (1, 3, 33, 33), (2, 4, 1, 1), (3, 600, 10, 20)]


def make_inputs(shape, layout, seed=0, dtype=torch.float32):
    n, c, h, w = shape
    gen = torch.Generator().manual_seed(seed)
    x = in_layout(torch.randn(shape, generator=gen, dtype=dtype), layout)
    channel_logits = 2 * torch.randn(n, c, 1, 1, generator=gen, dtype=dtype)
    spatial_logits = 2 * torch.randn(n, 1, h, w, generator=gen, dtype=dtype)
    return x, channel_logits, in_layout(spatial_logits, layout)


@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('shape', SHAPES)
def test_forward_matches_numpy(ops_path, shape, layout):
    x, channel_logits, spatial_logits = make_inputs(shape, layout)
    assert active_ops_path(x) == ops_path
    assert_close_np(gated_spatial_stats(x, channel_logits),
                    gated_spatial_stats_np(x, channel_logits))
    assert_close_np(channel_spatial_gate(x, channel_logits, spatial_logits),
                    channel_spatial_gate_np(x, channel_logits, spatial_logits))


@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('shape', SHAPES)
def test_backward_matches_reference_path(needs_compiled, shape, layout):
    inputs = [t.requires_grad_() for t in make_inputs(shape, layout)]
    ref_inputs = [t.detach().clone().requires_grad_() for t in inputs]
    gen = torch.Generator().manual_seed(3)
    grad_pool = torch.randn(shape[0], 2, shape[2], shape[3], generator=gen)
    grad_out = torch.randn(shape, generator=gen)

    def loss(gss, csg, x, channel_logits, spatial_logits):
        return ((gss(x, channel_logits) * grad_pool).sum() +
                (csg(x, channel_logits, spatial_logits) * grad_out).sum())

    loss(gated_spatial_stats, channel_spatial_gate, *inputs).backward()
    loss(reference.gated_spatial_stats, reference.channel_spatial_gate, *ref_inputs).backward()
    for ours, theirs in zip(inputs, ref_inputs):
        torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-5, atol=1e-5)


def test_gradcheck(ops_path):
    x, channel_logits, spatial_logits = [
        t.requires_grad_() for t in make_inputs((2, 3, 4, 5), 'contiguous', dtype=torch.float64)
    ]
    assert torch.autograd.gradcheck(gated_spatial_stats, (x, channel_logits))
    assert torch.autograd.gradcheck(channel_spatial_gate, (x, channel_logits, spatial_logits))


def test_gated_max_gradient_is_split_among_ties(ops_path):
    # Zero logits gate by 1/2: gated channels 0 and 1 tie at 1 on position 0.
    x = torch.tensor([[[[2., 0.]], [[2., 4.]]]], requires_grad=True)
    channel_logits = torch.zeros(1, 2, 1, 1, requires_grad=True)
    pooled = gated_spatial_stats(x, channel_logits)
    torch.testing.assert_close(pooled, torch.tensor([[[[1., 2.]], [[1., 1.]]]]))
    pooled.backward(torch.tensor([[[[4., 4.]], [[0., 0.]]]]))
    # d/dx = 1/2 * (4 / 2 ties); d/dlogit_c = sum_p grad_y * x * 1/4.
    torch.testing.assert_close(x.grad, torch.tensor([[[[1., 0.]], [[1., 2.]]]]))
    torch.testing.assert_close(channel_logits.grad,
                               torch.tensor([[[[2 * 2 / 4]], [[(2 * 2 + 4 * 4) / 4]]]]))


def test_empty_batch(ops_path):
    x, channel_logits, spatial_logits = [
        t.requires_grad_() for t in make_inputs((0, 3, 4, 4), 'contiguous')
    ]
    pooled = gated_spatial_stats(x, channel_logits)
    out = channel_spatial_gate(x, channel_logits, spatial_logits)
    assert pooled.shape == (0, 2, 4, 4) and out.shape == (0, 3, 4, 4)
    (pooled.sum() + out.sum()).backward()
    assert x.grad.shape == x.shape and spatial_logits.grad.shape == spatial_logits.shape


def test_bad_logits_are_rejected(ops_path):
    x = torch.randn(2, 4, 5, 6)
    with pytest.raises(ValueError, match=r'channel_logits must have shape \(N, C, 1, 1\)'):
        gated_spatial_stats(x, torch.randn(2, 1, 5, 6))
    with pytest.raises(ValueError, match=r'spatial_logits must have shape \(N, 1, H, W\)'):
        channel_spatial_gate(x, torch.randn(2, 4, 1, 1), torch.randn(2, 4, 1, 1))
