"""channel_mlp_attention: SE's pattern with a ReLU channel MLP, one operator each way."""
import pytest
import torch
from torch import nn

from autola_mm.models.attention.se import SE
from autola_mm.ops import compiled_ops_available, reference
from ops_numpy_reference import (AUTOCAST_DTYPES, LONG_ROWS, assert_bitwise_or_close,
                                 assert_close_np, assert_rejected, channel_mlp_attention_grad_np,
                                 channel_mlp_attention_np, grads_of)

# (N, C, H, W, hidden): HOGA's SE on a group of 4 (r = 4), a 1 x 1 map, one long
# row, a wider map, an empty batch, rows of three chunks of the CPU's row sums.
SHAPES = [(2, 4, 5, 6, 1), (3, 8, 1, 1, 2), (1, 16, 1, 257, 4), (2, 64, 23, 23, 16),
          (0, 4, 3, 3, 1), (*LONG_ROWS, 1)]
SHAPE_IDS = ['x'.join(map(str, shape)) for shape in SHAPES]
#: SE (avg, no biases), SE_A_M (avg and max, no biases), and an MLP with biases.
VARIANTS = {'se': (False, False), 'se_a_m': (True, False), 'biased': (True, True)}


def se_inputs(case, shape, variant, seed=0):
    """``(x, weight1, bias1, weight2, bias2, with_max_pool)`` and the output's gradient."""
    n, c, h, w, hidden = shape
    with_max, with_bias = VARIANTS[variant]
    x = case.randn(n, c, h, w, seed=seed)
    weight1 = case.randn(hidden, c, seed=seed + 1) / c**.5
    bias1 = case.randn(hidden, seed=seed + 2) if with_bias else None
    # Logits of a few units at most: the oracle stores the gate in the map's dtype, and a
    # gate near 1 stored in float16 loses its slope s (1 - s), which the kernels keep.
    weight2 = case.randn(c, hidden, seed=seed + 3) / hidden**.5 / 4
    bias2 = case.randn(c, seed=seed + 4) if with_bias else None
    return (x, weight1, bias1, weight2, bias2, with_max), case.randn(n, c, h, w, seed=seed + 5)


@pytest.mark.parametrize('variant', VARIANTS)
@pytest.mark.parametrize('shape', SHAPES, ids=SHAPE_IDS)
def test_forward_matches_numpy(ops, case, shape, variant):
    args, _ = se_inputs(case, shape, variant)
    out = ops.channel_mlp_attention(*args)
    assert out.dtype == case.dtype and out.device.type == case.device
    assert_close_np(out, channel_mlp_attention_np(*args), **case.sum_tolerance(shape[1]))


@pytest.mark.parametrize('variant', VARIANTS)
@pytest.mark.parametrize('shape', SHAPES, ids=SHAPE_IDS)
def test_backward_matches_numpy(ops, case, shape, variant):
    n, c, h, w, hidden = shape
    args, grad = se_inputs(case, shape, variant, seed=7)
    given = [t.requires_grad_() for t in args[:5] if t is not None]
    grads = iter(grads_of(ops.channel_mlp_attention(*args), given, grad))
    # x's gradient sums a map (the logits' gradient) and the hidden units; the
    # weights' sum the maps of every image.
    terms = (h * w + c, n * h * w + c, n * h * w, n * h * w + c, n * h * w)
    for inp, wanted, count in zip(args, channel_mlp_attention_grad_np(*args, grad), terms):
        if inp is None:
            continue
        actual = next(grads)
        assert actual.dtype == case.dtype and actual.shape == inp.shape
        assert_close_np(actual, wanted, **case.sum_tolerance(count))


def test_gradcheck(one_thread, ops, device):

    def tensor(*shape):
        return torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)

    x, weight1, weight2 = tensor(2, 6, 3, 4), tensor(3, 6), tensor(6, 3)
    bias1, bias2 = tensor(3), tensor(6)
    assert torch.autograd.gradcheck(
        lambda *args: ops.channel_mlp_attention(*args, True), (x, weight1, bias1, weight2, bias2))
    assert torch.autograd.gradcheck(
        lambda x, w1, w2: ops.channel_mlp_attention(x, w1, None, w2, None, False),
        (x, weight1, weight2))


def test_hand_computed_values(ops, device):
    # One channel of two positions (1, 3), fc1 = [[1]], fc2 = [[2]]: avg 2 gives
    # hidden 2 and logit 4; with the max 3 (hidden 3, logit 6) the logit is 10.
    x = torch.tensor([1., 3.], device=device).view(1, 1, 1, 2).requires_grad_()
    weight1 = torch.tensor([[1.]], device=device, requires_grad=True)
    weight2 = torch.tensor([[2.]], device=device, requires_grad=True)
    out = ops.channel_mlp_attention(x, weight1, None, weight2, None, True)
    gate = torch.sigmoid(torch.tensor(10., device=device))
    torch.testing.assert_close(out.flatten(), torch.stack([gate, 3 * gate]))
    # Upstream (1, 1): the logit's gradient is (1 + 3) s (1 - s) = 4 s'; the
    # hidden units' 2 * 4 s' each; w1 gets 8 s' (avg + max) = 40 s', w2 gets
    # 4 s' (2 + 3) = 20 s'; x gets s + 8 s' / 2 from the mean, plus 8 s' at the max.
    out.backward(torch.ones_like(out))
    slope = gate * (1 - gate)
    torch.testing.assert_close(weight1.grad.flatten(), (40 * slope).view(1))
    torch.testing.assert_close(weight2.grad.flatten(), (20 * slope).view(1))
    torch.testing.assert_close(x.grad.flatten(),
                               torch.stack([gate + 4 * slope, gate + 12 * slope]))


def test_backward_is_deterministic(ops, case):
    args, grad = se_inputs(case, (4, 64, 23, 23, 16), 'biased', seed=4)
    args[0][:, :, 3] = 0  # ties for some maxima
    given = [t.requires_grad_() for t in args[:5]]
    first, second = (grads_of(ops.channel_mlp_attention(*args), given, grad) for _ in range(2))
    assert_bitwise_or_close(first, second, case.device, case.tolerance)


def test_frozen_weights_or_input(ops, device):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 5, 5, device=device)
    weight1, weight2 = torch.randn(2, 4, device=device), torch.randn(4, 2, device=device)
    weight1.requires_grad_()
    ops.channel_mlp_attention(x, weight1, None, weight2, None, True).sum().backward()
    assert weight1.grad.abs().sum() > 0 and weight2.grad is None
    x.requires_grad_()
    weight1.requires_grad_(False)
    ops.channel_mlp_attention(x, weight1, None, weight2, None, True).sum().backward()
    assert x.grad.abs().sum() > 0


def test_rejects_bad_shapes_and_dtypes(ops, device):
    x = torch.randn(2, 6, 4, 4, device=device)
    weight1, weight2 = torch.randn(3, 6, device=device), torch.randn(6, 3, device=device)
    op = 'autola_mm::channel_mlp'
    assert_rejected(
        lambda: ops.channel_mlp_attention(x, weight1[:, :5], None, weight2, None, False),
        f'{op}: weight1 must have shape (hidden, C) = [3, 6], got [3, 5]')
    assert_rejected(
        lambda: ops.channel_mlp_attention(x, weight1, None, weight2.t(), None, True),
        f'{op}: weight2 must have shape (C, hidden) = [6, 3], got [3, 6]')
    assert_rejected(
        lambda: ops.channel_mlp_attention(x, weight1.double(), None, weight2, None, False),
        f"{op}: weight1 must have avg's dtype Float, got Double")
    assert_rejected(
        lambda: ops.channel_mlp_attention(x[:, :, :0], weight1, None, weight2, None, False),
        'autola_mm::channel_stats: x must have at least one position (H * W > 0) to pool over, '
        'got shape [2, 6, 0, 4]')


def test_cpu_autocast_matches_reference(needs_compiled):
    # Under CPU autocast the logits return in x's dtype and the output is float32
    # on both paths: the compiled path composes the operators there, whose MLP
    # computes in float32 where torch's linear layers compute in bfloat16.
    from autola_mm.ops import compiled
    gen = torch.Generator().manual_seed(3)
    args = [torch.randn(shape, generator=gen) for shape in [(2, 8, 5, 5), (2, 8), (2, ), (8, 2),
                                                            (8, )]]
    grad = torch.randn(2, 8, 5, 5, generator=gen)
    results = []
    for path in (compiled, reference):
        given = [t.clone().requires_grad_() for t in args]
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = path.channel_mlp_attention(*given, True)
        assert out.dtype == torch.float32
        results.append([out, *grads_of(out, given, grad)])
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, rtol=1.6e-2, atol=1.6e-2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
@pytest.mark.parametrize('dtype', [torch.float16, torch.float32])
def test_cuda_autocast_matches_reference(needs_compiled, dtype):
    # Under CUDA autocast a float16 map runs the operator on float16 weights (the
    # MLP's autocast dtype); a float32 map composes the operators. Both return the
    # map's dtype and float32 weight gradients, as the reference does.
    from autola_mm.ops import compiled
    if not compiled_ops_available('cuda'):
        pytest.skip('the compiled attention core is not built for CUDA')
    gen = torch.Generator().manual_seed(3)
    shapes = [(2, 8, 5, 5), (2, 8), (2, ), (8, 2), (8, )]
    args = [torch.randn(shape, generator=gen).cuda() for shape in shapes]
    args[0] = args[0].to(dtype)
    grad = torch.randn(2, 8, 5, 5, generator=gen).cuda().to(dtype)
    results = []
    for path in (compiled, reference):
        given = [t.clone().requires_grad_() for t in args]
        with torch.autocast('cuda', dtype=torch.float16):
            out = path.channel_mlp_attention(*given, True)
        assert out.dtype == dtype
        if path is compiled and dtype == torch.float16:
            assert 'ChannelMlpAttention' in out.grad_fn.name()
        grads = grads_of(out, given, grad)
        assert [g.dtype for g in grads] == [dtype] + [torch.float32] * 4
        results.append([out, *grads])
    # float16 products and sums in another order on the two paths.
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours.float(), theirs.float(), rtol=1e-2, atol=1e-2)


def test_direct_call_under_autocast_runs_in_its_inputs_dtypes(compiled_device):
    # The operator has no autocast kernel, nor have the operators it calls while it
    # runs: float32 inputs give the numbers they give without autocast, each way (a
    # backward run inside the autocast region too), also in inference mode, where
    # its own kernel runs without its autograd kernel; and float32 weights on a map
    # of another dtype fail in the forward (under CUDA autocast they had run the MLP
    # in float16 and failed in the backward).
    autocast_dtype, other_dtype = AUTOCAST_DTYPES[compiled_device]
    gen = torch.Generator().manual_seed(3)
    shapes = [(2, 8, 5, 5), (2, 8), (2, ), (8, 2), (8, )]
    args = [torch.randn(shape, generator=gen).to(compiled_device) for shape in shapes]
    grad = torch.randn(2, 8, 5, 5, generator=gen).to(compiled_device)
    results = []
    for enabled in (False, True):
        given = [t.clone().requires_grad_() for t in args]
        with torch.autocast(compiled_device, dtype=autocast_dtype, enabled=enabled):
            out = torch.ops.autola_mm.channel_mlp_attention(*given, True)
            results.append([out, *grads_of(out, given, grad)])
        assert out.dtype == torch.float32
    for with_autocast, without in zip(*results):
        assert torch.equal(with_autocast, without)
    with torch.inference_mode(), torch.autocast(compiled_device, dtype=autocast_dtype):
        assert torch.equal(torch.ops.autola_mm.channel_mlp_attention(*args, True), results[0][0])
    with torch.autocast(compiled_device, dtype=autocast_dtype):
        with pytest.raises(ValueError, match='weight1 must have avg\'s dtype'):
            torch.ops.autola_mm.channel_mlp_attention(args[0].to(other_dtype), *args[1:], True)


@pytest.mark.skipif(not compiled_ops_available(), reason='the compiled operators are not built')
def test_se_runs_the_operator_for_a_relu_mlp_without_hooks():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 5, 5, requires_grad=True)
    se = SE(16, rd_ratio=1 / 4, with_max_pool=True)
    assert 'ChannelMlpAttention' in se(x).grad_fn.name()
    seen = []
    se.mlp.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    assert type(se(x).grad_fn).__name__ == '_ChannelAttentionBackward'
    assert seen == [(2, 16, 1, 1)]
    gelu = SE(16, rd_ratio=1 / 4, act_cfg=dict(type='GELU'))
    assert type(gelu(x).grad_fn).__name__ == '_ChannelAttentionBackward'
    assert isinstance(gelu.mlp.act, nn.GELU)
