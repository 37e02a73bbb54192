"""torch.compile traces the attention core without graph breaks and matches eager."""
import pytest
import torch
import torch._dynamo.testing

FORWARD_OPERATORS = ('channel_stats', 'channel_mlp', 'gated_spatial_stats', 'channel_spatial_gate',
                     'sigmoid_gate', 'spatial_stats', 'same_conv2d', 'pointwise_conv2d')


def attention_core(ops, x, weight, depthwise, pointwise, mlp):
    """A CBAM-like composition of every function of the path but the two patterns and the BN."""
    avg, max_ = ops.channel_stats(x)
    channel_logits = ops.channel_mlp(avg, max_, *mlp) * weight
    pooled = ops.gated_spatial_stats(x, channel_logits)
    spatial_logits = pooled.sum(1, keepdim=True) - ops.spatial_stats(x)[:, :1]
    out = ops.channel_spatial_gate(x, channel_logits, spatial_logits)
    out = ops.pointwise_conv2d(ops.same_conv2d(out, depthwise, 1, 3), pointwise)
    return ops.sigmoid_gate(out, out)


@pytest.mark.parametrize('dynamic', [False, True])
def test_compile_matches_eager_without_graph_breaks(one_thread, ops, dynamic):
    torch._dynamo.reset()
    counter = torch._dynamo.testing.CompileCounterWithBackend('aot_eager')
    compiled = torch.compile(attention_core, backend=counter, fullgraph=True, dynamic=dynamic)
    gen = torch.Generator().manual_seed(0)
    weight, depthwise, pointwise = (torch.randn(shape, generator=gen)
                                    for shape in [(1, 3, 1, 1), (3, 1, 3, 3), (3, 3, 1, 1)])
    # A hidden width of 8, unlike every size of x, so that duck sizing ties none to it.
    mlp = tuple(torch.randn(shape, generator=gen) for shape in [(8, 3), (8, ), (3, 8), (3, )])
    for shape in [(2, 3, 5, 6), (3, 3, 4, 7)]:
        x = torch.randn(shape, generator=gen, requires_grad=True)
        x_eager = x.detach().clone().requires_grad_()
        out = compiled(ops, x, weight, depthwise, pointwise, mlp)
        expected = attention_core(ops, x_eager, weight, depthwise, pointwise, mlp)
        torch.testing.assert_close(out, expected)
        grad = torch.randn(shape, generator=gen)
        out.backward(grad)
        expected.backward(grad)
        torch.testing.assert_close(x.grad, x_eager.grad)
    assert counter.frame_count == (1 if dynamic else 2)
    if ops.__name__.endswith('compiled'):
        targets = ' '.join(str(node.target) for graph in counter.graphs
                           for node in graph.graph.nodes)
        for name in FORWARD_OPERATORS:
            assert f'autola_mm.{name}' in targets, name


@pytest.mark.filterwarnings('ignore:`torch.jit.trace` is deprecated:FutureWarning')
def test_jit_trace_records_the_operators(needs_compiled):
    from autola_mm.ops import compiled
    x = torch.randn(2, 3, 5, 6)
    weight = torch.randn(1, 3, 1, 1)

    def cbam_like(x):
        return compiled.cbam_attention(x, lambda avg, max_: (avg + max_) * weight,
                                       lambda pooled: pooled[:, :1] - pooled[:, 1:])

    traced = torch.jit.trace(cbam_like, (x, ))
    nodes = {node.kind() for node in traced.graph.nodes()}
    assert {'autola_mm::channel_stats', 'autola_mm::gated_spatial_stats',
            'autola_mm::channel_spatial_gate'} <= nodes
    torch.testing.assert_close(traced(x), cbam_like(x))
