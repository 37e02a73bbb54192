"""channel_attention: the fused SE backward equals autograd through the composed operations."""
import pytest
import torch
import torch._dynamo.testing
from torch import nn

from autola_mm.ops import channel_attention, reference
from ops_numpy_reference import LAYOUTS, assert_layout_invariant


class TinySE(nn.Module):
    """An SE-shaped module; ``with_max`` adds the max-pooled descriptor (SE_A_M)."""

    def __init__(self, channels: int, hidden: int = 2, with_max: bool = False):
        super().__init__()
        self.fc1 = nn.Linear(channels, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, channels, bias=False)
        self.with_max = with_max

    def mlp(self, pooled):
        return self.fc2(torch.relu(self.fc1(pooled.flatten(1))))[:, :, None, None]

    def channel_logits(self, avg, max_):
        return self.mlp(avg) + self.mlp(max_) if self.with_max else self.mlp(avg)

    def forward(self, x):
        return channel_attention(x, self.channel_logits)

    def reference_forward(self, x):
        return reference.sigmoid_gate(x, self.channel_logits(*reference.channel_stats(x)))


def run_both(module, x, grad):
    results = []
    for forward in (module.forward, module.reference_forward):
        module.zero_grad(set_to_none=True)
        inp = x.detach().clone().requires_grad_()
        out = forward(inp)
        out.backward(grad)
        results.append((out, inp.grad, [p.grad.clone() for p in module.parameters()]))
    return results


@pytest.mark.parametrize('with_max', [False, True])
@pytest.mark.parametrize('shape', [(2, 5, 6, 7), (3, 70, 9, 10), (2, 3, 1, 1)])
def test_matches_composed_reference(ops_path, shape, with_max):
    torch.manual_seed(0)
    module = TinySE(shape[1], with_max=with_max)
    x, grad = torch.randn(shape), torch.randn(shape)
    (out, grad_x, grads), (ref_out, ref_grad_x, ref_grads) = run_both(module, x, grad)
    if ops_path == 'compiled':
        assert type(out.grad_fn).__name__ == '_ChannelGateBackward'
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_x, ref_grad_x, rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(grads, ref_grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('layout', LAYOUTS)
def test_layouts_match_contiguous(ops_path, layout):
    torch.manual_seed(0)
    assert_layout_invariant(TinySE(6, with_max=True), (2, 6, 7, 5), layout)


def test_empty_batch(ops_path):
    module = TinySE(4, with_max=True)
    x = torch.randn(0, 4, 5, 5, requires_grad=True)
    out = module(x)
    out.sum().backward()
    assert out.shape == x.grad.shape == x.shape
    assert all(p.grad is None or not p.grad.any() for p in module.parameters())


def test_ties_match_reference(ops_path):
    x = torch.randn(2, 4, 5, 5)
    x[:, 1] = 0
    x[:, 2, :2] = x[:, 2].amax(dim=(1, 2), keepdim=True)[:, :1]
    torch.manual_seed(0)
    (_, grad_x, _), (_, ref_grad_x, _) = run_both(TinySE(4, with_max=True), x, torch.randn_like(x))
    torch.testing.assert_close(grad_x, ref_grad_x, rtol=1e-5, atol=1e-6)


def test_gradcheck(ops_path):
    module = TinySE(3, with_max=True).double()
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, *weights: module(x), (x, *module.parameters()))


def test_compile_composes_without_graph_breaks(ops_path):
    torch._dynamo.reset()
    module = TinySE(4, with_max=True)
    counter = torch._dynamo.testing.CompileCounterWithBackend('aot_eager')
    compiled = torch.compile(module, backend=counter, fullgraph=True)
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    torch.testing.assert_close(compiled(x), module(x))
    assert counter.frame_count == 1


def test_wrong_logit_shape_is_rejected(ops_path):
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    with pytest.raises(ValueError, match=r'channel_logits\(avg, max\) must have shape'):
        channel_attention(x, lambda avg, max_: avg[:, :2])


def test_logits_ignoring_the_statistics(ops_path):
    bias = torch.randn(1, 4, 1, 1, requires_grad=True)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    channel_attention(x, lambda avg, max_: bias.expand(2, 4, 1, 1)).sum().backward()
    torch.testing.assert_close(x.grad, torch.sigmoid(bias).expand_as(x))
    expected = (x * torch.sigmoid(bias) * (1 - torch.sigmoid(bias))).sum((0, 2, 3), keepdim=True)
    torch.testing.assert_close(bias.grad, expected)


def test_logits_of_another_dtype_fall_back_to_the_composition(needs_compiled, monkeypatch):
    monkeypatch.setenv('AUTOLA_OPS', 'auto')
    module = TinySE(4, with_max=True)

    def double_logits(avg, max_):
        return module.channel_logits(avg, max_).double()

    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    ref_x = x.detach().clone().requires_grad_()
    out = channel_attention(x, double_logits)
    assert out.dtype == torch.float64
    out.sum().backward()
    reference.sigmoid_gate(ref_x, double_logits(*reference.channel_stats(ref_x))).sum().backward()
    torch.testing.assert_close(x.grad, ref_x.grad)
