"""cbam_attention: the fused CBAM backward equals autograd through the composed reference."""
import pytest
import torch
import torch._dynamo.testing
from torch import nn

from autola_mm.ops import reference
from ops_numpy_reference import (LAYOUTS, LONG_ROWS, LOW_PRECISION, assert_bitwise_or_close,
                                 assert_double_backward_refused, assert_layout_invariant,
                                 assert_rejected, assert_wide_logits_match_reference)

# (3, 600, 10, 20) spans several position tiles of the compiled CPU kernels, LONG_ROWS
# several chunks of their row sums.
SHAPES = [(2, 5, 6, 7), (2, 3, 1, 1), (2, 4, 7, 7), (1, 3, 1, 257), (3, 600, 10, 20), LONG_ROWS]


class TinyCBAM(nn.Module):
    """A CBAM-shaped module: shared two-layer channel MLP, 7x7 conv + BN on the pool."""

    def __init__(self, ops, channels: int, hidden: int = 2):
        super().__init__()
        self.ops = ops
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def mlp(self, pooled):
        return self.fc2(torch.relu(self.fc1(pooled.flatten(1))))[:, :, None, None]

    def channel_logits(self, avg, max_):
        return self.mlp(avg) + self.mlp(max_)

    def spatial_logits(self, pooled):
        return self.bn(self.conv(pooled))

    def forward(self, x):
        return self.ops.cbam_attention(x, self.channel_logits, self.spatial_logits,
                                       tuple(self.parameters()))

    def reference_forward(self, x):
        """Autograd through the composition of the reference functions."""
        avg, max_ = reference.channel_stats(x)
        channel = self.channel_logits(avg, max_)
        spatial = self.spatial_logits(reference.gated_spatial_stats(x, channel))
        return reference.channel_spatial_gate(x, channel, spatial)


def module_and_twin(ops, case, channels):
    torch.manual_seed(0)
    module = TinyCBAM(ops, channels).to(case.device, case.dtype)
    twin = TinyCBAM(ops, channels).to(case.device, case.dtype)
    twin.load_state_dict(module.state_dict())
    return module, twin


def run_both(ops, case, x, grad):
    """Outputs and gradients of the module through cbam_attention and through the reference."""
    module, twin = module_and_twin(ops, case, x.shape[1])
    results = []
    for forward, mod in ((module.forward, module), (twin.reference_forward, twin)):
        inp = x.detach().clone().requires_grad_()
        out = forward(inp)
        out.backward(grad)
        results.append((out, inp.grad, {n: p.grad for n, p in mod.named_parameters()}, mod))
    return results


def assert_same_results(ours, theirs, tolerance):
    """Outputs, x's gradients, the parameters' gradients and BN's running statistics agree.

    The parameters' gradients sum over the batch and the positions (and the
    MLP's over the channels): against float64, float32 loses a digit on them
    on either path (1e-4 at 3x600x10x20), so they get ten times the tolerance.
    In float16 and bfloat16 the gradients agree in norm instead of element by
    element: a channel mean that rounds one unit apart moves a channel logit,
    and with it the gated map's maximum at a position to a channel that ties
    with it once rounded, which moves that position's whole gradient there.
    """
    (out, grad_x, grads, module), (ref_out, ref_grad_x, ref_grads, twin) = ours, theirs
    torch.testing.assert_close(out, ref_out, **tolerance)
    assert grads.keys() == ref_grads.keys()
    pairs = [('x', grad_x, ref_grad_x, 1)] + [(name, value, ref_grads[name], 10)
                                              for name, value in grads.items()]
    for name, value, expected, scale in pairs:
        if value.dtype in LOW_PRECISION:
            error, size = (value.double() - expected.double()).norm(), expected.double().norm()
            assert error <= scale * tolerance['rtol'] * size, (name, error.item(), size.item())
        else:
            torch.testing.assert_close(value, expected, rtol=scale * tolerance['rtol'],
                                       atol=scale * tolerance['atol'],
                                       msg=lambda text, name=name: f'{name}: {text}')
    torch.testing.assert_close(module.bn.running_var, twin.bn.running_var, **tolerance)


@pytest.mark.parametrize('shape', SHAPES)
def test_matches_composed_reference(ops, case, shape):
    x, grad = case.randn(*shape, seed=1), case.randn(*shape, seed=2)
    ours, theirs = run_both(ops, case, x, grad)
    if ops.__name__.endswith('compiled'):
        assert type(ours[0].grad_fn).__name__ == '_CBAMAttentionBackward'
    assert ours[0].dtype == ours[1].dtype == case.dtype
    assert_same_results(ours, theirs, case.tolerance)


@pytest.mark.parametrize('layout', LAYOUTS)
def test_layouts_match_contiguous(one_thread, ops, case, layout):
    module, _ = module_and_twin(ops, case, 6)
    assert_layout_invariant(module, case.randn(2, 6, 7, 5), layout, case.tolerance)


def test_backward_is_deterministic(ops, case):
    x, grad = case.randn(3, 600, 10, 20, seed=1), case.randn(3, 600, 10, 20, seed=2)
    x[:, 100:110] = 0  # ties over channels and positions
    first, second = (run_both(ops, case, x, grad)[0] for _ in range(2))
    assert_bitwise_or_close([first[0], first[1], *first[2].values()],
                            [second[0], second[1], *second[2].values()], case.device,
                            case.tolerance)


def test_empty_batch(ops, device):
    torch.manual_seed(0)
    module = TinyCBAM(ops, 4).to(device)
    x = torch.randn(0, 4, 5, 5, device=device, requires_grad=True)
    out = module(x)
    out.sum().backward()
    assert out.shape == x.grad.shape == x.shape
    assert all(p.grad is None or not p.grad.any() for p in module.parameters())


def test_ties_and_infinities_match_reference(ops, case):
    # A zero channel ties over all positions; zero positions tie over all channels.
    x = case.randn(2, 4, 5, 5, seed=3)
    x[:, 1] = 0
    x[:, :, 2] = 0
    x[1, 3, 0, 0] = float('inf')
    ours, theirs = run_both(ops, case, x, case.randn(2, 4, 5, 5, seed=4))
    torch.testing.assert_close(ours[0], theirs[0], equal_nan=True, **case.tolerance)
    torch.testing.assert_close(ours[1], theirs[1], equal_nan=True, **case.tolerance)
    x[1, 3, 0, 0] = 0
    ours, theirs = run_both(ops, case, x, case.randn(2, 4, 5, 5, seed=4))
    assert_same_results(ours, theirs, case.tolerance)


def test_gradcheck(one_thread, ops, device):
    torch.manual_seed(0)
    module = TinyCBAM(ops, 3).to(device, torch.float64)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, device=device, requires_grad=True)
    params = tuple(module.parameters())

    def function(x, *weights):
        return module(x)

    assert torch.autograd.gradcheck(function, (x, *params))


def test_autograd_grad_leaves_parameter_grads_alone(ops):
    torch.manual_seed(0)
    module = TinyCBAM(ops, 4)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    grad_x, grad_w = torch.autograd.grad(module(x).square().sum(), (x, module.fc1.weight))
    assert grad_x.shape == x.shape and grad_w.abs().sum() > 0
    assert all(p.grad is None for p in module.parameters())


def test_backward_twice_with_retained_graph(ops):
    torch.manual_seed(0)
    module = TinyCBAM(ops, 4)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    out = module(x)
    out.sum().backward(retain_graph=True)
    first = x.grad.clone(), module.conv.weight.grad.clone()
    out.sum().backward()
    torch.testing.assert_close(x.grad, 2 * first[0])
    torch.testing.assert_close(module.conv.weight.grad, 2 * first[1])


def test_parameters_learn_when_x_has_no_gradient(ops):
    torch.manual_seed(0)
    module = TinyCBAM(ops, 4)
    module(torch.randn(2, 4, 5, 5)).sum().backward()
    assert module.fc1.weight.grad.abs().sum() > 0 and module.conv.weight.grad.abs().sum() > 0


def test_compile_composes_without_graph_breaks(one_thread, ops):
    torch.manual_seed(0)
    torch._dynamo.reset()
    module = TinyCBAM(ops, 4)
    counter = torch._dynamo.testing.CompileCounterWithBackend('aot_eager')
    compiled = torch.compile(module, backend=counter, fullgraph=True)
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    x_eager = x.detach().clone().requires_grad_()
    out = compiled(x)
    expected = module(x_eager)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    expected.sum().backward()
    torch.testing.assert_close(x.grad, x_eager.grad)
    assert counter.frame_count == 1


@pytest.mark.parametrize('shape, message', [
    ((2, 3, 4), 'autola_mm::channel_stats: x must be a 4-D (N, C, H, W) feature map, got shape '
     '[2, 3, 4]'),
    ((2, 3, 0, 4), 'autola_mm::channel_stats: x must have at least one position (H * W > 0) to '
     'pool over, got shape [2, 3, 0, 4]'),
])
def test_bad_input_is_rejected(ops, device, shape, message):
    torch.manual_seed(0)
    module = TinyCBAM(ops, 3).to(device)
    assert_rejected(lambda: module(torch.randn(shape, device=device)), message)


def test_wrong_spatial_logit_shape_is_rejected(ops, device):
    torch.manual_seed(0)
    module = TinyCBAM(ops, 4).to(device)
    x = torch.randn(2, 4, 5, 5, device=device, requires_grad=True)
    assert_rejected(
        lambda: ops.cbam_attention(x, module.channel_logits, lambda pooled: pooled,
                                   tuple(module.parameters())),
        'autola_mm::channel_spatial_gate: spatial_logits must have shape (N, 1, H, W) for x of '
        'shape [2, 4, 5, 5], got [2, 2, 5, 5]')


def test_logits_ignoring_the_statistics(ops, device):
    torch.manual_seed(0)
    # Spatial logits that ignore the pooled map: the pool gets no gradient, the bias does.
    module = TinyCBAM(ops, 4).to(device)
    bias = torch.zeros(1, 1, 5, 5, device=device, requires_grad=True)
    x = torch.randn(2, 4, 5, 5, device=device)
    grads = []
    for forward in (ops.cbam_attention, reference.cbam_attention):
        inp = x.clone().requires_grad_()
        out = forward(inp, module.channel_logits, lambda pooled: bias.expand(2, 1, 5, 5),
                      (*module.parameters(), bias))
        grads.append(torch.autograd.grad(out.square().sum(), (inp, bias, module.fc1.weight)))
    for ours, theirs in zip(*grads):
        torch.testing.assert_close(ours, theirs)


def test_mixed_dtypes_are_rejected(ops, device):
    torch.manual_seed(0)
    module = TinyCBAM(ops, 4).to(device)
    x = torch.randn(2, 4, 5, 5, device=device, requires_grad=True)
    assert_rejected(
        lambda: ops.cbam_attention(x, lambda a, m: module.channel_logits(a, m).double(),
                                   module.spatial_logits, tuple(module.parameters())),
        "autola_mm::gated_spatial_stats: channel_logits must have x's dtype Float, got Double")
    assert_rejected(
        lambda: ops.cbam_attention(x, module.channel_logits,
                                   lambda pooled: module.spatial_logits(pooled).double(),
                                   tuple(module.parameters())),
        "autola_mm::channel_spatial_gate: spatial_logits must have x's dtype Float, got Double")


def test_cpu_autocast_promotes_bfloat16_logits(ops, cpu_float32):
    # Under CPU autocast the linear layers and the conv give bfloat16 logits for a
    # float32 map; pools and gates take the widest dtype, float32, forward and backward.
    module, twin = module_and_twin(ops, cpu_float32, 4)
    x = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(5))
    grad = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(6))
    results = []
    for forward, mod in ((module.forward, module), (twin.reference_forward, twin)):
        inp = x.clone().requires_grad_()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = forward(inp)
        assert out.dtype == torch.float32
        out.backward(grad)
        results.append([out, inp.grad] + [p.grad for p in mod.parameters()])
    for ours, theirs in zip(*results):
        # bfloat16 sums over N * H * W (the 7x7 conv's weight gradient) round differently.
        torch.testing.assert_close(ours, theirs, rtol=1.6e-2, atol=6e-2)



class WideLogitsCBAM(TinyCBAM):
    """:class:`TinyCBAM` whose channel or spatial logits are float64 whatever the map's dtype."""

    def __init__(self, ops, channels, wide):
        super().__init__(ops, channels)
        self.wide = wide

    def channel_logits(self, avg, max_):
        logits = super().channel_logits(avg, max_)
        return logits.double() if self.wide == 'channel' else logits

    def spatial_logits(self, pooled):
        if self.wide == 'channel':  # the pool is float64: autocast's conv takes no float64
            return super().spatial_logits(pooled.float())
        return super().spatial_logits(pooled).double()


@pytest.mark.parametrize('grad', [True, False], ids=['grad', 'no-grad'])
@pytest.mark.parametrize('wide', ['channel', 'spatial'])
def test_autocast_logits_wider_than_the_map_gate_in_their_dtype(ops, device, wide, grad):
    # Under autocast the pools and gates take the widest dtype of their inputs, float64
    # included (which autocast's own promotion leaves alone), as the reference does;
    # with spatial logits wider than the pool, its maximum (rounded to float32) must
    # still pass its gradient to the position that holds it.
    assert_wide_logits_match_reference(device, lambda: WideLogitsCBAM(ops, 4, wide), grad,
                                       atol=6e-2)


def test_a_double_backward_is_refused_by_name(needs_compiled):
    from autola_mm.ops import compiled
    assert_double_backward_refused(TinyCBAM(compiled, 4), 'cbam_attention')


def test_a_parameter_missing_from_parameters_is_refused(needs_compiled):
    from autola_mm.ops import compiled
    module = TinyCBAM(compiled, 4)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    listed = tuple(p for p in module.parameters() if p is not module.conv.weight)
    with pytest.raises(ValueError, match=r'cbam_attention: the logit networks read a tensor '
                       r'of shape \(1, 2, 7, 7\) that requires grad but is not in `parameters`'):
        compiled.cbam_attention(x, module.channel_logits, module.spatial_logits, listed)
