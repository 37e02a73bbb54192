"""SE, CBAM and HOGA of autola_mm.models: the same numbers on the compiled ops and the reference."""
import copy

import pytest
import torch
import torch._dynamo.testing

from autola_mm.models.attention import CBAM, HOGA, SE
from autola_mm.ops import forced_ops_mode
from ops_numpy_reference import LAYOUTS, in_layout

MODULES = {
    'se': lambda: SE(32),
    'se_a_m': lambda: SE(32, rd_ratio=1 / 4, with_max_pool=True),
    'cbam': lambda: CBAM(32, rd_ratio=1 / 4),
    'hoga': lambda: HOGA(32),
}
#: The autograd node of each module's fused backward (a C++ function).
FUSED_BACKWARD = {'se': 'ChannelMlpAttention', 'se_a_m': 'ChannelMlpAttention',
                  'cbam': 'CbamMlpAttention'}


@pytest.fixture(scope='module', autouse=True)
def modules_on_one_thread():
    """One torch thread: the modules chain dozens of tiny ops, which on a busy 2-core
    machine wait on OpenMP far longer than they compute (test_ops' op tests keep the
    default to exercise the parallel loops)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build(name, case=None):
    torch.manual_seed(0)
    module = MODULES[name]()
    module.init_weights()
    return module if case is None else module.to(case.device, case.dtype)


def outputs_and_grads(module, x, grad):
    x = x.detach().clone().requires_grad_()
    out = module(x)
    out.backward(grad)
    names = [name.removeprefix('_orig_mod.') for name, _ in module.named_parameters()]
    return out, x.grad, dict(zip(names, (p.grad for p in module.parameters())))


@pytest.mark.parametrize('shape, layout', [((2, 32, 9, 11), layout) for layout in LAYOUTS] +
                         [((3, 32, 1, 1), 'contiguous'), ((2, 32, 7, 7), 'contiguous')])
@pytest.mark.parametrize('name', sorted(MODULES))
def test_module_matches_reference_path(compiled_case, name, shape, layout):
    case = compiled_case
    module = build(name, case)
    twin = copy.deepcopy(module)
    x = in_layout(case.randn(*shape, seed=1), layout)
    grad = case.randn(*shape, seed=2)
    with forced_ops_mode('compiled'):
        out, grad_x, grads = outputs_and_grads(module, x, grad)
    with forced_ops_mode('reference'):
        ref_out, ref_grad_x, ref_grads = outputs_and_grads(twin, x, grad)
    if name in FUSED_BACKWARD:
        assert FUSED_BACKWARD[name] in out.grad_fn.name()
        assert FUSED_BACKWARD[name] not in ref_out.grad_fn.name()
    # A module chains several ops (HOGA about forty): ten times an op's tolerance.
    tolerance = {key: 10 * value for key, value in case.tolerance.items()}
    torch.testing.assert_close(out, ref_out, **tolerance)
    torch.testing.assert_close(grad_x, ref_grad_x, **tolerance)
    assert grads.keys() == ref_grads.keys()
    for key, value in grads.items():
        torch.testing.assert_close(value, ref_grads[key], rtol=tolerance['rtol'],
                                   atol=10 * tolerance['atol'],
                                   msg=lambda text, key=key: f'{key}: {text}')


def relative_error(actual, expected):
    """||actual - expected|| / ||expected|| in float32 (0 where both are 0)."""
    actual, expected = actual.float(), expected.float()
    scale = expected.norm().item()
    return (actual - expected).norm().item() / scale if scale else actual.norm().item()


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16], ids=['float16', 'bfloat16'])
@pytest.mark.parametrize('name', sorted(MODULES))
def test_mixed_precision_training_matches_reference_path(compiled_device, name, dtype):
    # As a network trains under autocast: a convolution hands the module a map in
    # autocast's dtype while every weight stays float32. The operators' path (auto
    # mode: the compiled kernels where they cover the map's dtype) against the
    # reference, in norm: the two round at different steps of some forty operations.
    if compiled_device == 'cpu' and dtype == torch.float16:
        pytest.skip('CPU autocast runs bfloat16')
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 32, 9, 11, generator=gen).to(compiled_device)
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(32, 32, 1).to(compiled_device)
    module = build(name).to(compiled_device)
    results = []
    for mode, (first, second) in (('auto', (conv, module)),
                                  ('reference', copy.deepcopy((conv, module)))):
        inp = x.clone().requires_grad_()
        with forced_ops_mode(mode), torch.autocast(compiled_device, dtype=dtype):
            y = first(inp)
            assert y.dtype == dtype
            out = second(y)
        out.backward(torch.randn(out.shape, generator=torch.Generator().manual_seed(2)).to(out))
        params = [*first.parameters(), *second.parameters()]
        assert all(p.grad is None or p.grad.dtype == torch.float32 for p in params)
        results.append((out, inp.grad, params))
    (out, grad_x, params), (ref_out, ref_grad_x, ref_params) = results
    assert out.dtype == ref_out.dtype
    # The reference under CPU autocast against float32 (HOGA, the farthest): output
    # 0.0009 and 0.007, gradient of x 0.0067 and 0.076 in float16 and bfloat16.
    out_tolerance, grad_tolerance = {torch.float16: (1e-2, 5e-2),
                                     torch.bfloat16: (5e-2, 2.5e-1)}[dtype]
    assert relative_error(out, ref_out) < out_tolerance
    assert relative_error(grad_x, ref_grad_x) < grad_tolerance
    for param, ref in zip(params, ref_params):
        assert (param.grad is None) == (ref.grad is None)
        if param.grad is not None:
            assert torch.isfinite(param.grad).all()


@pytest.mark.parametrize('name', sorted(MODULES))
def test_empty_batch(ops, device, name):
    module = build(name).to(device)
    x = torch.randn(0, 32, 5, 5, device=device, requires_grad=True)
    out = module(x)
    out.sum().backward()
    assert out.shape == x.grad.shape == x.shape


@pytest.mark.parametrize('mode', ['auto', 'reference'])
@pytest.mark.parametrize('name', sorted(MODULES))
def test_cpu_autocast_on_a_bfloat16_map(mode, name):
    # In a network under CPU autocast the map an attention module receives is the
    # bfloat16 output of a convolution, while the module's weights stay float32
    # (auto mode takes the reference for a bfloat16 map on the CPU).
    module = build(name)
    conv = torch.nn.Conv2d(32, 32, 1)
    x = torch.randn(2, 32, 6, 6, requires_grad=True)
    with forced_ops_mode(mode), torch.autocast('cpu', dtype=torch.bfloat16):
        y = conv(x)
        assert y.dtype == torch.bfloat16
        out = module(y)
    assert out.shape == y.shape and out.dtype in (torch.bfloat16, torch.float32)
    out.float().sum().backward()
    assert x.grad is not None and conv.weight.grad is not None


def test_torch_compile_of_cbam_matches_eager(ops):
    torch._dynamo.reset()
    torch.manual_seed(0)
    module = CBAM(16, rd_ratio=1 / 4)
    module.init_weights()
    twin = copy.deepcopy(module)
    counter = torch._dynamo.testing.CompileCounterWithBackend('aot_eager')
    compiled = torch.compile(module, backend=counter, fullgraph=True)
    gen = torch.Generator().manual_seed(1)
    x, grad = torch.randn(2, 16, 12, 10, generator=gen), torch.randn(2, 16, 12, 10, generator=gen)
    out, grad_x, grads = outputs_and_grads(compiled, x, grad)
    ref_out, ref_grad_x, ref_grads = outputs_and_grads(twin, x, grad)
    assert counter.frame_count == 1
    # Two float32 computations of the same sums in different orders (the
    # traced graph's ATen reductions, the operators' lane sums): float32's
    # tolerance against the oracle, not torch's default of a few ulps.
    close = dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, ref_out, **close)
    torch.testing.assert_close(grad_x, ref_grad_x, **close)
    for key, value in grads.items():
        torch.testing.assert_close(value, ref_grads[key], **close,
                                   msg=lambda text, key=key: f'{key}: {text}')
