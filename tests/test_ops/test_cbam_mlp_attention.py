"""cbam_mlp_attention: CBAM's pattern with its logit networks, one operator each way."""
import copy

import pytest
import torch
from torch import nn

from autola_mm.models.attention import CBAM
from autola_mm.ops import compiled_ops_available, forced_ops_mode, reference
from ops_numpy_reference import (AUTOCAST_DTYPES, assert_bitwise_or_close, assert_close_np,
                                 assert_close_or_in_norm, assert_rejected,
                                 cbam_mlp_attention_grad_np, cbam_mlp_attention_np, grads_of)

# (N, C, H, W, hidden, k): HOGA's CBAM on a group of 4 (r = 4), 1 x 1 maps, one
# long row with a 3x3 kernel, a wider map.
SHAPES = [(2, 4, 5, 6, 1, 7), (3, 8, 1, 1, 2, 7), (1, 16, 1, 37, 4, 3), (2, 64, 12, 13, 16, 7)]
SHAPE_IDS = ['x'.join(map(str, shape)) for shape in SHAPES]
#: The spatial BN: (training, affine), as CBAM trains and evaluates, and as the search
#: builds it (not affine).
MODES = {'train': (True, True), 'eval': (False, True), 'search': (True, False)}
MOMENTUM, EPS = 0.1, 1e-5


def cbam_inputs(case, shape, mode, seed=0):
    """The operator's arguments (its running statistics fresh) and the output's gradient."""
    n, c, h, w, hidden, k = shape
    training, affine = MODES[mode]

    def randn(*size, offset):
        return case.randn(*size, seed=seed + offset)

    x = randn(n, c, h, w, offset=0)
    # Logits of a few units at most: a gate near 1 stored in float16 has no slope left.
    mlp = (randn(hidden, c, offset=1) / c**.5, randn(hidden, offset=2) / 4,
           randn(c, hidden, offset=3) / hidden**.5 / 4, randn(c, offset=4) / 4)
    conv_weight = randn(1, 2, k, k, offset=5) / (2 * k * k)**.5
    bn = (randn(1, offset=6) / 4 + 1, randn(1, offset=7) / 4) if affine else (None, None)
    running = (randn(1, offset=8) / 4, randn(1, offset=9).abs() + 0.5)
    counter = torch.zeros((), dtype=torch.long, device=case.device)
    args = (x, *mlp, conv_weight, *bn, *running, training, MOMENTUM, EPS, counter)
    return args, randn(n, c, h, w, offset=10)


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('shape', SHAPES, ids=SHAPE_IDS)
def test_forward_matches_numpy(ops, case, shape, mode):
    args, _ = cbam_inputs(case, shape, mode)
    expected, new_mean, new_var = cbam_mlp_attention_np(*args[:13])
    out = ops.cbam_mlp_attention(*args)
    assert out.dtype == case.dtype and out.device.type == case.device
    assert_close_or_in_norm(out, expected, case, shape[1])
    running_mean, running_var, training = args[8:11]
    assert_close_np(running_mean, new_mean, **case.sum_tolerance(shape[0] * shape[2] * shape[3]))
    assert_close_np(running_var, new_var, **case.sum_tolerance(shape[0] * shape[2] * shape[3]))
    assert args[-1].item() == int(training)


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('shape', SHAPES, ids=SHAPE_IDS)
def test_backward_matches_numpy(ops, case, shape, mode):
    n, c, h, w, hidden, k = shape
    args, grad = cbam_inputs(case, shape, mode, seed=11)
    wanted = cbam_mlp_attention_grad_np(*args[:11], EPS, grad)  # before the call updates
    given = [t.requires_grad_() for t in args[:8] if t is not None]
    grads = iter(grads_of(ops.cbam_mlp_attention(*args), given, grad))
    # x's gradient sums the maps (the logits' gradients) and the hidden units; the
    # parameters' sum the maps of every image.
    maps = n * h * w
    terms = (h * w * k * k + c, maps + c, maps, maps + c, maps, maps * c, maps, maps)
    for inp, expected, count in zip(args, wanted, terms):
        if inp is None:
            continue
        actual = next(grads)
        assert actual.dtype == case.dtype and actual.shape == inp.shape
        assert_close_or_in_norm(actual, expected, case, count)


def test_gradcheck(one_thread, ops, device):

    def tensor(*shape):
        return torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)

    running = (torch.zeros(1, dtype=torch.float64, device=device),
               torch.ones(1, dtype=torch.float64, device=device))
    mlp = (tensor(3, 6), tensor(3), tensor(6, 3), tensor(6))
    for training in (True, False):
        assert torch.autograd.gradcheck(
            lambda *args: ops.cbam_mlp_attention(*args, *running, training, 0.1, 1e-5),
            (tensor(2, 6, 4, 5), *mlp, tensor(1, 2, 3, 3), tensor(1), tensor(1)))
    assert torch.autograd.gradcheck(
        lambda x, w1, w2, conv: ops.cbam_mlp_attention(x, w1, None, w2, None, conv, None, None,
                                                       *running, True, 0.1, 1e-5),
        (tensor(2, 6, 4, 5), mlp[0], mlp[2], tensor(1, 2, 3, 3)))


def test_backward_is_deterministic(ops, case):
    args, grad = cbam_inputs(case, (4, 64, 12, 13, 16, 7), 'train', seed=4)
    args[0][:, :, 3] = 0  # ties for some maxima
    given = [t.requires_grad_() for t in args[:8]]
    first, second = (grads_of(ops.cbam_mlp_attention(*args), given, grad) for _ in range(2))
    assert_bitwise_or_close(first, second, case.device, case.tolerance)


def test_rejects_bad_shapes(ops, device):
    x = torch.randn(2, 6, 4, 4, device=device)
    mlp = (torch.randn(3, 6, device=device), None, torch.randn(6, 3, device=device), None)
    running = (torch.zeros(1, device=device), torch.ones(1, device=device))
    assert_rejected(
        lambda: ops.cbam_mlp_attention(x, *mlp, torch.randn(1, 3, 7, 7, device=device), None,
                                       None, *running, True, 0.1, 1e-5),
        'autola_mm::same_conv2d: weight of shape [1, 3, 7, 7] reads 3 channels with groups=1, '
        'but x of shape [2, 2, 4, 4] has 2')
    assert_rejected(
        lambda: ops.cbam_mlp_attention(x, mlp[0][:, :5], *mlp[1:], torch.randn(
            1, 2, 7, 7, device=device), None, None, *running, True, 0.1, 1e-5),
        'autola_mm::channel_mlp: weight1 must have shape (hidden, C) = [3, 6], got [3, 5]')


def test_cpu_autocast_matches_reference(compiled_case):
    # Under CPU autocast the compiled path composes the operators (whose MLP and
    # convolution compute in float32, where torch's compute in bfloat16).
    from autola_mm.ops import compiled
    if compiled_case.device != 'cpu' or compiled_case.dtype != torch.float32:
        pytest.skip('CPU autocast of a float32 map')
    results = []
    for path in (compiled, reference):
        args, grad = cbam_inputs(compiled_case, SHAPES[0], 'train', seed=2)
        given = [t.requires_grad_() for t in args[:8]]
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = path.cbam_mlp_attention(*args)
        assert out.dtype == torch.float32
        results.append([out, *grads_of(out, given, grad), *args[8:10]])
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, rtol=1.6e-2, atol=1.6e-2)


def test_direct_call_under_autocast_runs_in_its_inputs_dtypes(compiled_case):
    # The operator has no autocast kernel, nor have the operators it calls while it
    # runs (under CUDA autocast its MLP and convolution had run in float16 and its
    # backward failed): float32 inputs give the numbers and running statistics they
    # give without autocast, each way (a backward run inside the autocast region
    # too), also in inference mode, where its own kernel runs without its autograd
    # kernel; and float32 weights on a map of another dtype fail in the forward.
    if compiled_case.dtype != torch.float32:
        pytest.skip('a float32 map and weights under autocast')
    device = compiled_case.device
    autocast_dtype, other_dtype = AUTOCAST_DTYPES[device]
    results = []
    for enabled in (False, True):
        args, grad = cbam_inputs(compiled_case, SHAPES[0], 'train', seed=2)
        given = [t.requires_grad_() for t in args[:8]]
        with torch.autocast(device, dtype=autocast_dtype, enabled=enabled):
            out = torch.ops.autola_mm.cbam_mlp_attention(*args)
            results.append([out, *grads_of(out, given, grad), *args[8:10], args[-1]])
        assert out.dtype == torch.float32
    # On a GPU cuDNN's weight gradient of the convolution sums in a varying order.
    assert_bitwise_or_close(*results, device, compiled_case.tolerance)
    args, _ = cbam_inputs(compiled_case, SHAPES[0], 'eval', seed=2)
    without = torch.ops.autola_mm.cbam_mlp_attention(*args)
    with torch.inference_mode(), torch.autocast(device, dtype=autocast_dtype):
        assert torch.equal(torch.ops.autola_mm.cbam_mlp_attention(*args), without)
    args, _ = cbam_inputs(compiled_case, SHAPES[0], 'train', seed=2)
    with torch.autocast(device, dtype=autocast_dtype):
        with pytest.raises(ValueError, match='weight1 must have avg\'s dtype'):
            torch.ops.autola_mm.cbam_mlp_attention(args[0].to(other_dtype), *args[1:])


@pytest.mark.skipif(not compiled_ops_available(), reason='the compiled operators are not built')
def test_cbam_runs_the_operator_where_the_core_computes_its_layers():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 5, 5, requires_grad=True)
    cbam = CBAM(16, rd_ratio=1 / 4)
    assert cbam.is_core_pattern()
    assert 'CbamMlpAttention' in cbam(x).grad_fn.name()
    hooked = copy.deepcopy(cbam)
    seen = []
    hooked.spatial_bn.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    assert type(hooked(x).grad_fn).__name__ == '_CBAMAttentionBackward'
    assert seen == [(2, 1, 5, 5)]
    converted = copy.deepcopy(cbam)  # e.g. what a SyncBN conversion leaves: another BN type
    converted.spatial_bn = nn.BatchNorm2d(1, momentum=0.01)
    assert not converted.is_core_pattern()
    assert type(converted(x).grad_fn).__name__ == '_CBAMAttentionBackward'


@pytest.mark.parametrize('momentum', [0.01, None])
def test_cbam_module_matches_reference_path_with_its_statistics(momentum):
    # Two training steps and one evaluation, running statistics and counters included.
    torch.manual_seed(0)
    cbam = CBAM(16, rd_ratio=1 / 4, norm_cfg=dict(type='BN', momentum=momentum))
    cbam.init_weights()
    twin = copy.deepcopy(cbam)
    x, grad = torch.randn(3, 16, 7, 9), torch.randn(3, 16, 7, 9)
    results = []
    for mode, module in (('compiled', cbam), ('reference', twin)):
        with forced_ops_mode(mode):
            inp = x.clone().requires_grad_()
            for _ in range(2):
                module(inp).backward(grad)
            module.eval()
            with torch.no_grad():
                out = module(x)
        results.append([out, inp.grad, *(p.grad for p in module.parameters()),
                        *module.buffers()])
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert cbam.spatial_bn.num_batches_tracked.item() == 2
