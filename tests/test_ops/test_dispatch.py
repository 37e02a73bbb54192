"""Which path autola_mm.ops takes: AUTOLA_OPS per (device type, dtype); loading the extension."""
import importlib.machinery
import inspect
import os

import pytest
import torch
import torch._dynamo.testing

from autola_mm import ops as autola_ops
from autola_mm.ops import (FUNCTIONS, OPS_ENV, active_ops_path, compiled, compiled_ops_available,
                           extension, forced_ops_mode, ops_for, reference, traced)

AUTO_CPU = compiled if compiled_ops_available('cpu') else reference


@pytest.fixture(autouse=True)
def auto_mode():
    """Every test runs in auto mode with no path chosen yet; AUTOLA_OPS is restored after."""
    with forced_ops_mode('auto'):
        yield


def test_reference_is_forced_by_the_mode():
    with forced_ops_mode('reference'):
        for x in (torch.randn(1, 2, 3, 3), torch.randn(1, 2, 3, 3, dtype=torch.float64)):
            assert ops_for(x) is reference and active_ops_path(x) == 'reference'


def test_auto_takes_compiled_ops_where_built():
    assert ops_for(torch.randn(1, 2, 3, 3)) is AUTO_CPU
    assert ops_for(torch.randn(1, 2, 3, 3, dtype=torch.float64)) is AUTO_CPU
    assert active_ops_path(torch.randn(1, 2, 3, 3)) == AUTO_CPU.__name__.rsplit('.', 1)[-1]


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_auto_takes_the_reference_for_dtypes_the_cpu_kernels_lack(dtype):
    x = torch.randn(1, 2, 3, 3).to(dtype)
    assert active_ops_path(x) == 'reference'
    avg, max_ = ops_for(x).channel_stats(x)
    assert avg.dtype == dtype
    torch.testing.assert_close(max_, x.amax(dim=(2, 3), keepdim=True))


def test_the_path_is_chosen_once_per_device_type_and_dtype():
    x = torch.randn(1, 2, 3, 3)
    with forced_ops_mode('reference'):
        assert ops_for(x) is reference
        os.environ[OPS_ENV] = 'compiled'  # without forced_ops_mode: the choice stands
        assert ops_for(x) is reference
        assert ops_for(torch.randn(2, 5, 1, 1)) is reference  # any shape: the same key
        # A key not asked about yet reads the environment now.
        double = torch.randn(1, 2, 3, 3, dtype=torch.float64)
        if compiled_ops_available('cpu'):
            assert ops_for(double) is compiled
        else:
            with pytest.raises(RuntimeError, match='AUTOLA_OPS=compiled'):
                ops_for(double)
    # Leaving the block restores AUTOLA_OPS and forgets the choices: auto mode again.
    assert os.environ[OPS_ENV] == 'auto'
    assert ops_for(x) is AUTO_CPU


def test_forced_ops_mode_restores_an_unset_environment():
    with forced_ops_mode('reference'):
        os.environ.pop(OPS_ENV)
        with forced_ops_mode('compiled'):
            assert os.environ[OPS_ENV] == 'compiled'
        assert OPS_ENV not in os.environ
        assert ops_for(torch.randn(1, 2, 3, 3)) is AUTO_CPU  # unset is auto


def test_forced_ops_mode_restores_the_mode_after_an_error():
    with pytest.raises(KeyError):
        with forced_ops_mode('reference'):
            assert ops_for(torch.randn(1, 2, 3, 3)) is reference
            raise KeyError('inside')
    assert os.environ[OPS_ENV] == 'auto'
    assert ops_for(torch.randn(1, 2, 3, 3)) is AUTO_CPU


def test_ops_fixture_forces_its_path(ops):
    # The conftest fixture: forced_ops_mode for the whole test.
    assert ops_for(torch.randn(1, 2, 3, 3)) is ops
    assert os.environ[OPS_ENV] == ops.__name__.rsplit('.', 1)[-1]


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_compiled_mode_refuses_uncovered_dtypes(dtype):
    with forced_ops_mode('compiled'):
        with pytest.raises(RuntimeError, match=rf'AUTOLA_OPS=compiled.*{dtype}.*on cpu'):
            ops_for(torch.randn(1, 2, 3, 3).to(dtype))


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="AUTOLA_OPS='fast': expected one of auto, compiled, "
                       'reference'):
        with forced_ops_mode('fast'):
            pass
    assert os.environ[OPS_ENV] == 'auto'
    with forced_ops_mode('auto'):
        os.environ[OPS_ENV] = 'fast'  # set behind forced_ops_mode's back: the next choice refuses
        with pytest.raises(ValueError, match="AUTOLA_OPS='fast'"):
            ops_for(torch.randn(1, 2, 3, 3))


def test_both_paths_define_every_function():
    assert set(FUNCTIONS) == {'channel_stats', 'spatial_stats', 'sigmoid_gate',
                              'gated_spatial_stats', 'channel_spatial_gate', 'same_conv2d',
                              'pointwise_conv2d', 'channel_attention', 'cbam_attention',
                              'batch_norm', 'channel_mlp', 'channel_mlp_attention',
                              'cbam_mlp_attention', 'sep_conv_gate'}
    for name in FUNCTIONS:
        assert callable(getattr(reference, name)), name
        if compiled_ops_available():
            assert callable(getattr(compiled, name)), name
            assert callable(getattr(traced, name)), name


def test_torch_compile_traces_the_gates_in_pytorch_and_the_convolutions_compiled(needs_compiled):
    """Traced, a HOGA gate leaves its pool, BNs and gate to the compiler, keeps its convolutions."""
    from autola_mm.models.attention.conv_gate import SepConvGate
    gate = SepConvGate(4, spatial=True).train()
    x = torch.randn(2, 4, 6, 6)
    backend = torch._dynamo.testing.CompileCounterWithBackend('eager')
    torch._dynamo.reset()
    out = torch.compile(gate, backend=backend, fullgraph=True)(x)
    targets = ' '.join(str(node.target) for graph in backend.graphs for node in graph.graph.nodes)
    assert 'autola_mm.same_conv2d' in targets
    assert 'autola_mm.spatial_stats' not in targets and 'autola_mm.sigmoid_gate' not in targets
    assert 'autola_mm.batch_norm' not in targets
    torch.testing.assert_close(out, gate(x))
    assert ops_for(x) is compiled


def _parameters(function):
    """(name, default) of each parameter: from an operator's schema, else inspect.signature."""
    schema = getattr(getattr(function, 'default', None), '_schema', None)
    if schema is not None:
        empty = inspect.Parameter.empty
        return [(arg.name, arg.default_value if arg.has_default_value() else empty)
                for arg in schema.arguments]
    return [(p.name, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize('name', FUNCTIONS)
def test_both_paths_have_the_same_signature(needs_compiled, name):
    assert _parameters(getattr(compiled, name)) == _parameters(getattr(reference, name))


def test_cuda_kernels_are_reported_only_when_built():
    if not compiled_ops_available():
        assert not compiled_ops_available('cpu') and not compiled_ops_available('cuda')
    else:
        assert compiled_ops_available('cpu') and compiled_ops_available('cpu:0')
        assert compiled_ops_available('cuda') == bool(extension._EXTENSION.with_cuda)
        assert compiled_ops_available(torch.device('cuda', 0)) == compiled_ops_available('cuda')
    assert not compiled_ops_available('meta')


def test_missing_extension_means_reference(tmp_path, monkeypatch):
    (tmp_path / 'unbuilt_ops').mkdir()
    (tmp_path / 'unbuilt_ops' / '__init__.py').write_text('')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert extension._load_extension('unbuilt_ops._ext') is None


def test_broken_extension_is_an_error_naming_the_cause(tmp_path, monkeypatch):
    package = tmp_path / 'broken_ops'
    package.mkdir()
    (package / '__init__.py').write_text('')
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    (package / f'_ext{suffix}').write_bytes(b'not a shared object')
    monkeypatch.syspath_prepend(str(tmp_path))
    cause = r'broken_ops/_ext.*exists but does not load: .*(too short|ELF)'
    with pytest.raises(ImportError, match=cause):
        extension._load_extension('broken_ops._ext')


def test_old_entry_points_are_gone():
    for name in FUNCTIONS + ('checks', 'fused_autograd', 'InputGradient'):
        assert not hasattr(autola_ops, name), name
