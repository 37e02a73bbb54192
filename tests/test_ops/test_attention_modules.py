"""SE, CBAM and HOGA of autola_mm.models: the same numbers on the compiled ops and the reference."""
import copy

import pytest
import torch
import torch._dynamo.testing

from autola_mm.models.attention import CBAM, HOGA, SE
from ops_numpy_reference import LAYOUTS, in_layout

MODULES = {
    'se': lambda: SE(32),
    'se_a_m': lambda: SE(32, rd_ratio=1 / 4, with_max_pool=True),
    'cbam': lambda: CBAM(32, rd_ratio=1 / 4),
    'hoga': lambda: HOGA(32),
}


def outputs_and_grads(module, x, grad):
    x = x.detach().clone().requires_grad_()
    out = module(x)
    out.backward(grad)
    names = [name.removeprefix('_orig_mod.') for name, _ in module.named_parameters()]
    return out, x.grad, dict(zip(names, (p.grad for p in module.parameters())))


@pytest.mark.parametrize('shape, layout', [((2, 32, 9, 11), layout) for layout in LAYOUTS] +
                         [((3, 32, 1, 1), 'contiguous')])
@pytest.mark.parametrize('name', sorted(MODULES))
def test_module_matches_reference_path(needs_compiled, monkeypatch, name, shape, layout):
    torch.manual_seed(0)
    module = MODULES[name]()
    module.init_weights()
    twin = copy.deepcopy(module)
    x = in_layout(torch.randn(shape), layout)
    grad = torch.randn(shape)
    monkeypatch.setenv('AUTOLA_OPS', 'compiled')
    out, grad_x, grads = outputs_and_grads(module, x, grad)
    monkeypatch.setenv('AUTOLA_OPS', 'reference')
    ref_out, ref_grad_x, ref_grads = outputs_and_grads(twin, x, grad)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_x, ref_grad_x, rtol=1e-4, atol=1e-5)
    assert grads.keys() == ref_grads.keys()
    for key, value in grads.items():
        torch.testing.assert_close(value, ref_grads[key], rtol=1e-4, atol=1e-4, msg=key)


@pytest.mark.parametrize('name', sorted(MODULES))
def test_empty_batch(ops_path, name):
    module = MODULES[name]()
    x = torch.randn(0, 32, 5, 5, requires_grad=True)
    out = module(x)
    out.sum().backward()
    assert out.shape == x.grad.shape == x.shape


def test_torch_compile_of_cbam_matches_eager(ops_path):
    torch._dynamo.reset()
    torch.manual_seed(0)
    module = CBAM(16, rd_ratio=1 / 4)
    module.init_weights()
    twin = copy.deepcopy(module)
    counter = torch._dynamo.testing.CompileCounterWithBackend('aot_eager')
    compiled = torch.compile(module, backend=counter, fullgraph=True)
    x = torch.randn(2, 16, 12, 10)
    grad = torch.randn(2, 16, 12, 10)
    out, grad_x, grads = outputs_and_grads(compiled, x, grad)
    ref_out, ref_grad_x, ref_grads = outputs_and_grads(twin, x, grad)
    assert counter.frame_count == 1
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(grad_x, ref_grad_x)
    for key, value in grads.items():
        torch.testing.assert_close(value, ref_grads[key], msg=key)
