"""cbam_attention: the fused CBAM backward equals autograd through the composed operations."""
import pytest
import torch
import torch._dynamo.testing
from torch import nn

from autola_mm.ops import cbam_attention, reference
from ops_numpy_reference import LAYOUTS, assert_layout_invariant


class TinyCBAM(nn.Module):
    """A CBAM-shaped module: shared two-layer channel MLP, 7x7 conv + BN on the pool."""

    def __init__(self, channels: int, hidden: int = 2):
        super().__init__()
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
        return cbam_attention(x, self.channel_logits, self.spatial_logits)

    def reference_forward(self, x):
        avg, max_ = reference.channel_stats(x)
        channel = self.channel_logits(avg, max_)
        spatial = self.spatial_logits(reference.gated_spatial_stats(x, channel))
        return reference.channel_spatial_gate(x, channel, spatial)


def run_both(x, grad, dtype=torch.float32):
    """Outputs and gradients of the module through cbam_attention and through the reference."""
    torch.manual_seed(0)
    module = TinyCBAM(x.shape[1]).to(dtype)
    twin = TinyCBAM(x.shape[1]).to(dtype)
    twin.load_state_dict(module.state_dict())
    results = []
    for forward, mod in ((module.forward, module), (twin.reference_forward, twin)):
        inp = x.detach().clone().requires_grad_()
        out = forward(inp)
        out.backward(grad)
        results.append((out, inp.grad, {n: p.grad for n, p in mod.named_parameters()}, mod))
    return results


@pytest.mark.parametrize('shape', [(2, 5, 6, 7), (3, 600, 10, 20), (2, 3, 1, 1)])
def test_matches_composed_reference(ops_path, shape):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=gen)
    grad = torch.randn(shape, generator=gen)
    (out, grad_x, grads, module), (ref_out, ref_grad_x, ref_grads, twin) = run_both(x, grad)
    if ops_path == 'compiled':
        assert type(out.grad_fn).__name__ == '_GatesBackward'
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_x, ref_grad_x, rtol=1e-5, atol=1e-5)
    for name, value in grads.items():
        torch.testing.assert_close(value, ref_grads[name], rtol=1e-4, atol=1e-5, msg=name)
    torch.testing.assert_close(module.bn.running_var, twin.bn.running_var)


@pytest.mark.parametrize('layout', LAYOUTS)
def test_layouts_match_contiguous(ops_path, layout):
    torch.manual_seed(0)
    assert_layout_invariant(TinyCBAM(6), (2, 6, 7, 5), layout)


def test_empty_batch(ops_path):
    module = TinyCBAM(4)
    x = torch.randn(0, 4, 5, 5, requires_grad=True)
    out = module(x)
    out.sum().backward()
    assert out.shape == x.grad.shape == x.shape
    assert all(p.grad is None or not p.grad.any() for p in module.parameters())


def test_ties_match_reference(ops_path):
    # A zero channel ties over all positions; zero positions tie over all channels.
    x = torch.randn(2, 4, 5, 5)
    x[:, 1] = 0
    x[:, :, 2] = 0
    (out, grad_x, grads, _), (ref_out, ref_grad_x, ref_grads, _) = run_both(x, torch.randn_like(x))
    torch.testing.assert_close(grad_x, ref_grad_x, rtol=1e-5, atol=1e-6)
    for name, value in grads.items():
        torch.testing.assert_close(value, ref_grads[name], rtol=1e-4, atol=1e-5, msg=name)


def test_gradcheck(ops_path):
    module = TinyCBAM(3).double()
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    params = tuple(module.parameters())

    def function(x, *weights):
        return module(x)

    assert torch.autograd.gradcheck(function, (x, *params))


def test_autograd_grad_leaves_parameter_grads_alone(ops_path):
    module = TinyCBAM(4)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    grad_x, grad_w = torch.autograd.grad(module(x).square().sum(), (x, module.fc1.weight))
    assert grad_x.shape == x.shape and grad_w.abs().sum() > 0
    assert all(p.grad is None for p in module.parameters())


def test_backward_twice_with_retained_graph(ops_path):
    module = TinyCBAM(4)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    out = module(x)
    out.sum().backward(retain_graph=True)
    first = x.grad.clone(), module.conv.weight.grad.clone()
    out.sum().backward()
    torch.testing.assert_close(x.grad, 2 * first[0])
    torch.testing.assert_close(module.conv.weight.grad, 2 * first[1])


def test_parameters_learn_when_x_has_no_gradient(ops_path):
    module = TinyCBAM(4)
    module(torch.randn(2, 4, 5, 5)).sum().backward()
    assert module.fc1.weight.grad.abs().sum() > 0 and module.conv.weight.grad.abs().sum() > 0


def test_compile_composes_without_graph_breaks(ops_path):
    torch._dynamo.reset()
    module = TinyCBAM(4)
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


@pytest.mark.parametrize('bad, message', [
    (torch.randn(2, 3, 4), 'x must be a 4-D'),
    (torch.randn(2, 3, 0, 4), r'H \* W > 0'),
])
def test_bad_input_is_rejected(ops_path, bad, message):
    with pytest.raises(ValueError, match=message):
        TinyCBAM(3)(bad)


def test_spatial_logits_ignoring_the_pool_is_an_error_on_the_fused_path(needs_compiled,
                                                                        monkeypatch):
    monkeypatch.setenv('AUTOLA_OPS', 'compiled')
    module = TinyCBAM(4)
    bias = torch.zeros(1, 1, 5, 5, requires_grad=True)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    out = cbam_attention(x, module.channel_logits, lambda pooled: bias.expand(2, 1, 5, 5))
    with pytest.raises(RuntimeError, match='spatial_logits must depend on the pooled map'):
        out.sum().backward()
