"""sep_conv_gate: HOGA's separable gates (sep_conv_3x3, sep_conv_3x3_spatial), one operator."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autola_mm.models.attention.conv_gate import SepConvGate
from autola_mm.ops import compiled_ops_available, forced_ops_mode
from autola_mm.ops.reference import DIRECT_MAX_CHANNEL_PAIRS
from ops_numpy_reference import (AUTOCAST_DTYPES, assert_close_np, assert_close_or_in_norm,
                                 grads_of)

# (N, C, H, W): HOGA(16)'s groups of 4 (1 x 1 convolutions on the direct kernel),
# groups of 8 (as matrix products), one row, a map of one position per image, and
# groups of 24 channels.
SHAPES = [(2, 4, 5, 6), (3, 8, 7, 7), (2, 4, 1, 9), (5, 8, 1, 1), (2, 24, 5, 4)]
SHAPE_IDS = ['x'.join(map(str, shape)) for shape in SHAPES]
#: (training, affine) of both batch norms: HOGA training, evaluating, and in the search.
MODES = {'train': (True, True), 'eval': (False, True), 'search': (True, False)}
MOMENTUM, EPS = 0.1, 1e-5


def gate_inputs(device, dtype, shape, mode, spatial, seed=0):
    """The operator's arguments (running statistics fresh) and the output's gradient."""
    n, c, h, w = shape
    width, gated = (2, 1) if spatial else (c, c)
    training, affine = MODES[mode]
    generator = torch.Generator().manual_seed(seed)

    def randn(*size, scale=1.0):
        return (torch.randn(size, generator=generator) * scale).to(device, dtype)

    def stage(out):
        kernels = (randn(width, 1, 3, 3, scale=1 / 3), randn(out, width, 1, 1, scale=width**-.5))
        bn = (randn(out, scale=0.25) + 1, randn(out, scale=0.25)) if affine else (None, None)
        running = (randn(out, scale=0.25), randn(out).abs() + 0.5)
        counter = torch.zeros((), dtype=torch.long, device=device)
        return (*kernels, *bn, *running, training, MOMENTUM, EPS, counter)

    x = randn(n, c, h, w)
    return (x, *stage(width), *stage(gated), spatial), randn(n, c, h, w)


def float64_oracle(args, grad):
    """The gate in float64 from torch.nn.functional, on the CPU: the output, the gradients
    of the tensors that are given (x, kernels, BN weights and biases), the updated running
    statistics."""
    args = [a.detach().cpu().double() if isinstance(a, torch.Tensor) and a.is_floating_point()
            else a for a in args]
    x, first, second, spatial = args[0], args[1:11], args[11:21], args[21]
    differentiable = [x] + [t for s in (first, second) for t in s[:4] if t is not None]
    for t in differentiable:
        t.requires_grad_()

    def stage(t, depthwise, pointwise, weight, bias, mean, var, training, momentum, eps, _):
        t = F.conv2d(F.conv2d(t, depthwise, padding=1, groups=t.shape[1]), pointwise)
        return F.batch_norm(t, mean, var, weight, bias, training, momentum, eps)

    source = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], 1) if spatial else x
    logits = stage(F.relu(stage(source, *first)), *second)
    out = x * torch.sigmoid(logits)
    grads = torch.autograd.grad(out, differentiable, grad.cpu().double())
    return out.detach(), grads, (first[4], first[5], second[4], second[5])


@pytest.mark.parametrize('spatial', [False, True], ids=['elements', 'positions'])
@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('shape', SHAPES, ids=SHAPE_IDS)
def test_matches_float64_oracle(ops, case, shape, mode, spatial):
    args, grad = gate_inputs(case.device, case.dtype, shape, mode, spatial)
    expected, expected_grads, expected_running = float64_oracle(args, grad)
    given = [args[0]] + [t for t in args[1:5] + args[11:15] if t is not None]
    for t in given:
        t.requires_grad_()
    out = ops.sep_conv_gate(*args)
    assert out.dtype == case.dtype and out.shape == shape
    terms = 9 * shape[0] * shape[2] * shape[3]
    assert_close_or_in_norm(out, expected.numpy(), case, terms)
    for actual, wanted in zip(grads_of(out, given, grad), expected_grads):
        assert_close_or_in_norm(actual, wanted.numpy(), case, terms)
    for actual, wanted in zip((args[5], args[6], args[15], args[16]), expected_running):
        assert_close_np(actual, wanted.numpy(), **case.sum_tolerance(terms))
    training = MODES[mode][0]
    assert args[10].item() == args[20].item() == int(training)


@pytest.mark.parametrize('spatial', [False, True], ids=['elements', 'positions'])
@pytest.mark.parametrize('mode', MODES)
def test_gradcheck(one_thread, ops, device, mode, spatial):
    args, _ = gate_inputs(device, torch.float64, (2, 8, 4, 5), mode, spatial)
    positions = [0, 1, 2, 3, 4, 11, 12, 13, 14]
    inputs = [args[i] for i in positions if args[i] is not None]

    def gate(*tensors):
        values, given = list(args), iter(tensors)
        for i in positions:
            if values[i] is not None:
                values[i] = next(given)
        return ops.sep_conv_gate(*values)

    assert torch.autograd.gradcheck(gate, [t.requires_grad_() for t in inputs])


def test_rejects_bad_kernels(ops, device):
    args, _ = gate_inputs(device, torch.float32, (2, 4, 5, 6), 'train', False)
    bad = list(args)
    bad[2] = torch.randn(4, 4, 3, 3, device=device)
    with pytest.raises(ValueError, match=r'pointwise1 must have shape \(4, 4, 1, 1\), got '
                       r'\[4, 4, 3, 3\]'):
        ops.sep_conv_gate(*bad)
    bad = list(args)
    bad[11] = torch.randn(2, 1, 3, 3, device=device)
    with pytest.raises(ValueError, match=r'depthwise2 must have shape \(4, 1, k, k\)'):
        ops.sep_conv_gate(*bad)
    spatial = list(args[:21]) + [True]
    with pytest.raises(ValueError, match=r'depthwise1 must have shape \(2, 1, k, k\)'):
        ops.sep_conv_gate(*spatial)


needs_ops = pytest.mark.skipif(not compiled_ops_available(),
                               reason='the compiled operators are not built')


@needs_ops
def test_the_extension_routes_pointwise_convolutions_by_the_modules_bound():
    from autola_mm.ops import extension
    assert extension._EXTENSION.direct_max_channel_pairs == DIRECT_MAX_CHANNEL_PAIRS


@needs_ops
def test_a_backward_that_keeps_the_graph_can_run_again_and_a_double_backward_is_refused():
    gate = SepConvGate(4).train()
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    with forced_ops_mode('compiled'):
        out = gate(x)
    assert 'SepConvGate' in out.grad_fn.name()
    grad = torch.randn_like(out)
    first = torch.autograd.grad(out, [x, *gate.parameters()], grad, retain_graph=True)
    second = torch.autograd.grad(out, [x, *gate.parameters()], grad)
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    with forced_ops_mode('compiled'):
        out = gate(x)
    with pytest.raises(RuntimeError, match=r'derivative for autola_mm::\w+ is not implemented'):
        (g, ) = torch.autograd.grad(out.pow(2).sum(), x, create_graph=True)
        g.sum().backward()


@needs_ops
def test_the_gate_runs_the_operator_where_the_core_computes_its_layers():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    gate = SepConvGate(8)
    assert gate.is_core_pattern()
    with forced_ops_mode('compiled'):
        assert 'SepConvGate' in gate(x).grad_fn.name()
        hooked = copy.deepcopy(gate)
        seen = []
        hooked.conv2.bn.register_forward_hook(lambda module, args, out: seen.append(out.shape))
        assert not hooked.is_core_pattern()
        hooked(x)
        assert seen == [(2, 8, 5, 5)]
        converted = copy.deepcopy(gate)  # what a SyncBN conversion leaves: another BN type
        converted.conv1.bn = nn.BatchNorm2d(8)
        assert not converted.is_core_pattern()
        other_act = SepConvGate(8, act_cfg=dict(type='GELU'))
        assert not other_act.is_core_pattern()
        assert 'SepConvGate' not in other_act(x).grad_fn.name()


@needs_ops
@pytest.mark.parametrize('spatial', [False, True], ids=['elements', 'positions'])
@pytest.mark.parametrize('momentum', [0.1, None])
def test_gate_module_matches_reference_path_with_its_statistics(spatial, momentum):
    # Two training steps and one evaluation, running statistics and counters included.
    torch.manual_seed(0)
    gate = SepConvGate(16, spatial=spatial, norm_cfg=dict(type='BN', momentum=momentum))
    twin = copy.deepcopy(gate)
    x, grad = torch.randn(3, 16, 7, 9), torch.randn(3, 16, 7, 9)
    results = []
    for mode, module in (('compiled', gate), ('reference', twin)):
        with forced_ops_mode(mode):
            inp = x.clone().requires_grad_()
            for _ in range(2):
                module.train()(inp).backward(grad)
            with torch.no_grad():
                out = module.eval()(x)
        results.append([out, inp.grad, *(p.grad for p in module.parameters()),
                        *module.buffers()])
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert gate.conv2.bn.num_batches_tracked.item() == 2


@needs_ops
def test_cpu_autocast_composes_the_operators_as_the_modules_do():
    torch.manual_seed(0)
    gate = SepConvGate(8).train()
    twin = copy.deepcopy(gate)
    x = torch.randn(2, 8, 6, 6)
    dtype = AUTOCAST_DTYPES['cpu'][0]
    outs = []
    for module, core in ((gate, True), (twin, False)):
        module.is_core_pattern = lambda core=core: core
        with forced_ops_mode('compiled'), torch.autocast('cpu', dtype=dtype):
            outs.append(module(x))
    assert outs[0].dtype == outs[1].dtype == torch.float32
    assert torch.equal(outs[0], outs[1])


def test_direct_call_under_autocast_runs_in_its_inputs_dtypes(compiled_case):
    # The operator has no autocast kernel, nor have the operators it calls while it
    # runs: float32 inputs give the numbers and running statistics they give without
    # autocast, each way, and float32 kernels on a map of another dtype fail.
    if compiled_case.dtype != torch.float32:
        pytest.skip('a float32 map and kernels under autocast')
    device = compiled_case.device
    autocast_dtype, other_dtype = AUTOCAST_DTYPES[device]
    results = []
    for enabled in (False, True):
        args, grad = gate_inputs(device, torch.float32, (2, 8, 5, 6), 'train', False, seed=3)
        given = [args[0]] + [t for t in args[1:5] + args[11:15] if t is not None]
        for t in given:
            t.requires_grad_()
        with torch.autocast(device, dtype=autocast_dtype, enabled=enabled):
            out = torch.ops.autola_mm.sep_conv_gate(*args)
            results.append([out, *grads_of(out, given, grad), args[5], args[6], args[15],
                            args[16], args[10], args[20]])
        assert out.dtype == torch.float32
    for first, second in zip(*results):
        torch.testing.assert_close(first, second, **compiled_case.tolerance)
    args, _ = gate_inputs(device, torch.float32, (2, 8, 5, 6), 'train', False, seed=3)
    with torch.autocast(device, dtype=autocast_dtype):
        with pytest.raises(ValueError, match="weight must have x's dtype"):
            torch.ops.autola_mm.sep_conv_gate(args[0].to(other_dtype), *args[1:])
