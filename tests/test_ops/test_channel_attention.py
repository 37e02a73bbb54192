"""channel_attention: the fused SE backward equals autograd through the composed reference."""
import pytest
import torch
import torch._dynamo.testing
from torch import nn

from autola_mm.ops import reference
from ops_numpy_reference import (LAYOUTS, LONG_ROWS, assert_bitwise_or_close,
                                 assert_double_backward_refused, assert_layout_invariant,
                                 assert_rejected, assert_wide_logits_match_reference)

SHAPES = [(2, 5, 6, 7), (2, 3, 1, 1), (2, 4, 7, 7), (1, 3, 1, 257), (2, 64, 23, 23), LONG_ROWS]


class TinySE(nn.Module):
    """An SE-shaped module; ``with_max`` adds the max-pooled descriptor (SE_A_M)."""

    def __init__(self, ops, channels: int, hidden: int = 2, with_max: bool = False):
        super().__init__()
        self.ops = ops
        self.fc1 = nn.Linear(channels, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, channels, bias=False)
        self.with_max = with_max

    def mlp(self, pooled):
        return self.fc2(torch.relu(self.fc1(pooled.flatten(1))))[:, :, None, None]

    def channel_logits(self, avg, max_):
        return self.mlp(avg) + self.mlp(max_) if self.with_max else self.mlp(avg)

    def forward(self, x):
        return self.ops.channel_attention(x, self.channel_logits, tuple(self.parameters()))

    def reference_forward(self, x):
        """Autograd through the composition of the reference functions."""
        return reference.sigmoid_gate(x, self.channel_logits(*reference.channel_stats(x)))


def tiny_se(ops, case, channels, with_max=True, seed=0):
    torch.manual_seed(seed)
    return TinySE(ops, channels, with_max=with_max).to(case.device, case.dtype)


def run_both(module, x, grad):
    """(output, x's gradient, parameters' gradients) of the fused pattern, then of the reference."""
    results = []
    for forward in (module.forward, module.reference_forward):
        module.zero_grad(set_to_none=True)
        inp = x.detach().clone().requires_grad_()
        out = forward(inp)
        out.backward(grad)
        results.append((out, inp.grad, [p.grad.clone() for p in module.parameters()]))
    return results


@pytest.mark.parametrize('with_max', [False, True])
@pytest.mark.parametrize('shape', SHAPES)
def test_matches_composed_reference(ops, case, shape, with_max):
    module = tiny_se(ops, case, shape[1], with_max)
    x, grad = case.randn(*shape, seed=1), case.randn(*shape, seed=2)
    (out, grad_x, grads), (ref_out, ref_grad_x, ref_grads) = run_both(module, x, grad)
    if ops.__name__.endswith('compiled'):
        assert type(out.grad_fn).__name__ == '_ChannelAttentionBackward'
    assert out.dtype == grad_x.dtype == case.dtype
    torch.testing.assert_close(out, ref_out, **case.tolerance)
    torch.testing.assert_close(grad_x, ref_grad_x, **case.tolerance)
    for ours, theirs in zip(grads, ref_grads):
        torch.testing.assert_close(ours, theirs, **case.tolerance)


@pytest.mark.parametrize('layout', LAYOUTS)
def test_layouts_match_contiguous(one_thread, ops, case, layout):
    assert_layout_invariant(tiny_se(ops, case, 6), case.randn(2, 6, 7, 5), layout,
                            case.tolerance)


def test_backward_is_deterministic(ops, case):
    module = tiny_se(ops, case, 64)
    x, grad = case.randn(2, 64, 23, 23, seed=1), case.randn(2, 64, 23, 23, seed=2)
    x[:, :, 4] = 0  # ties
    first, second = ([out, grad_x, *grads] for out, grad_x, grads in
                     (run_both(module, x, grad)[0] for _ in range(2)))
    assert_bitwise_or_close(first, second, case.device, case.tolerance)


def test_empty_batch(ops, device):
    torch.manual_seed(0)
    module = TinySE(ops, 4, with_max=True).to(device)
    x = torch.randn(0, 4, 5, 5, device=device, requires_grad=True)
    out = module(x)
    out.sum().backward()
    assert out.shape == x.grad.shape == x.shape
    assert all(p.grad is None or not p.grad.any() for p in module.parameters())


def test_empty_map_is_rejected(ops, device):
    module = TinySE(ops, 4, with_max=True).to(device)
    assert_rejected(
        lambda: module(torch.randn(2, 4, 0, 5, device=device, requires_grad=True)),
        'autola_mm::channel_stats: x must have at least one position (H * W > 0) to pool over, '
        'got shape [2, 4, 0, 5]')


def test_ties_and_infinities_match_reference(ops, case):
    x = case.randn(2, 4, 5, 5, seed=3)
    x[:, 1] = 0
    x[:, 2, :2] = x[:, 2].amax(dim=(1, 2), keepdim=True)[:, :1]
    x[1, 3, 0, 0] = float('inf')
    (out, grad_x, grads), (ref_out, ref_grad_x, ref_grads) = run_both(
        tiny_se(ops, case, 4), x, case.randn(2, 4, 5, 5, seed=4))
    torch.testing.assert_close(out, ref_out, equal_nan=True, **case.tolerance)
    torch.testing.assert_close(grad_x, ref_grad_x, equal_nan=True, **case.tolerance)


def test_gradcheck(one_thread, ops, device):
    torch.manual_seed(0)
    module = TinySE(ops, 3, with_max=True).to(device, torch.float64)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, *weights: module(x), (x, *module.parameters()))


def test_compile_composes_without_graph_breaks(one_thread, ops):
    torch.manual_seed(0)
    torch._dynamo.reset()
    module = TinySE(ops, 4, with_max=True)
    counter = torch._dynamo.testing.CompileCounterWithBackend('aot_eager')
    compiled = torch.compile(module, backend=counter, fullgraph=True)
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    x_eager = x.detach().clone().requires_grad_()
    out, expected = compiled(x), module(x_eager)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    expected.sum().backward()
    torch.testing.assert_close(x.grad, x_eager.grad)
    assert counter.frame_count == 1


def test_wrong_logit_shape_is_rejected(ops, device):
    x = torch.randn(2, 4, 5, 5, device=device, requires_grad=True)
    assert_rejected(
        lambda: ops.channel_attention(x, lambda avg, max_: avg[:, :2]),
        'autola_mm::sigmoid_gate: logits must have shape (N, C, 1, 1), (N, 1, H, W) or '
        '(N, C, H, W) for x of shape [2, 4, 5, 5], got [2, 2, 1, 1]')


def test_logits_ignoring_the_statistics(ops, device):
    torch.manual_seed(0)
    bias = torch.randn(1, 4, 1, 1, device=device, requires_grad=True)
    x = torch.randn(2, 4, 5, 5, device=device, requires_grad=True)
    ops.channel_attention(x, lambda avg, max_: bias.expand(2, 4, 1, 1), (bias, )).sum().backward()
    torch.testing.assert_close(x.grad, torch.sigmoid(bias).expand_as(x))
    expected = (x * torch.sigmoid(bias) * (1 - torch.sigmoid(bias))).sum((0, 2, 3), keepdim=True)
    torch.testing.assert_close(bias.grad, expected)


def test_parameters_learn_when_x_has_no_gradient(ops):
    torch.manual_seed(0)
    module = TinySE(ops, 4, with_max=True)
    module(torch.randn(2, 4, 5, 5)).sum().backward()
    assert module.fc1.weight.grad.abs().sum() > 0 and module.fc2.weight.grad.abs().sum() > 0


def test_mixed_dtypes_are_rejected(ops, device):
    torch.manual_seed(0)
    module = TinySE(ops, 4, with_max=True).to(device)
    x = torch.randn(2, 4, 5, 5, device=device, requires_grad=True)
    assert_rejected(
        lambda: ops.channel_attention(x, lambda a, m: module.channel_logits(a, m).double(),
                                      tuple(module.parameters())),
        "autola_mm::sigmoid_gate: logits must have x's dtype Float, got Double")


def test_cpu_autocast_promotes_bfloat16_logits(ops):
    # Under CPU autocast the linear layers give bfloat16 logits for a float32 map;
    # the gate takes the widest dtype, float32, forward and backward.
    module = TinySE(ops, 4, with_max=True)
    x = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(5))
    grad = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(6))
    results = []
    for forward in (module.forward, module.reference_forward):
        module.zero_grad(set_to_none=True)
        inp = x.clone().requires_grad_()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert module.channel_logits(*reference.channel_stats(inp)).dtype == torch.bfloat16
            out = forward(inp)
        assert out.dtype == torch.float32
        out.backward(grad)
        results.append([out, inp.grad] + [p.grad for p in module.parameters()])
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, rtol=1.6e-2, atol=1.6e-2)


class WideLogitsSE(TinySE):
    """:class:`TinySE` whose logits are float64 whatever the map's dtype."""

    def channel_logits(self, avg, max_):
        return super().channel_logits(avg, max_).double()


@pytest.mark.parametrize('grad', [True, False], ids=['grad', 'no-grad'])
def test_autocast_logits_wider_than_the_map_gate_in_their_dtype(ops, device, grad):
    # float64 logits, which autocast's own promotion leaves alone, gate a float32
    # map in float64 under autocast, with and without a gradient, as in the reference.
    assert_wide_logits_match_reference(device, lambda: WideLogitsSE(ops, 4, with_max=True), grad,
                                       atol=1.6e-2)


def test_a_double_backward_is_refused_by_name(needs_compiled):
    from autola_mm.ops import compiled
    assert_double_backward_refused(TinySE(compiled, 4), 'channel_attention')


def test_a_parameter_missing_from_parameters_is_refused(needs_compiled):
    from autola_mm.ops import compiled
    module = TinySE(compiled, 4)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    with pytest.raises(ValueError, match=r'channel_attention: the logit networks read a tensor '
                       r'of shape \(2, 4\) that requires grad but is not in `parameters`'):
        compiled.channel_attention(x, module.channel_logits, (module.fc2.weight, ))
