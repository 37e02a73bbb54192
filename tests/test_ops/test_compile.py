"""torch.compile traces the attention core without graph breaks and matches eager."""
import pytest
import torch
import torch._dynamo.testing

from autola_mm.ops import (channel_spatial_gate, channel_stats, gated_spatial_stats,
                           sigmoid_gate, spatial_stats)


def attention_core(x, weight):
    """A CBAM-like composition of all five operations."""
    avg, max_ = channel_stats(x)
    channel_logits = (avg + max_) * weight
    pooled = gated_spatial_stats(x, channel_logits)
    spatial_logits = pooled.sum(1, keepdim=True) - spatial_stats(x)[:, :1]
    out = channel_spatial_gate(x, channel_logits, spatial_logits)
    return sigmoid_gate(out, out)


@pytest.mark.parametrize('dynamic', [False, True])
def test_compile_matches_eager_without_graph_breaks(ops_path, dynamic):
    torch._dynamo.reset()
    counter = torch._dynamo.testing.CompileCounterWithBackend('aot_eager')
    compiled = torch.compile(attention_core, backend=counter, fullgraph=True, dynamic=dynamic)
    weight = torch.randn(1, 3, 1, 1)
    for shape in [(2, 3, 5, 6), (3, 3, 4, 7)]:
        x = torch.randn(shape, requires_grad=True)
        x_eager = x.detach().clone().requires_grad_()
        out = compiled(x, weight)
        expected = attention_core(x_eager, weight)
        torch.testing.assert_close(out, expected)
        grad = torch.randn(shape)
        out.backward(grad)
        expected.backward(grad)
        torch.testing.assert_close(x.grad, x_eager.grad)
    assert counter.frame_count == (1 if dynamic else 2)
    if ops_path == 'compiled':
        targets = ' '.join(str(node.target) for graph in counter.graphs
                           for node in graph.graph.nodes)
        for name in ('channel_stats', 'gated_spatial_stats', 'channel_spatial_gate',
                     'sigmoid_gate', 'spatial_stats'):
            assert f'autola_mm.{name}' in targets
