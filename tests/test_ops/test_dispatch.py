"""Which path autola_mm.ops takes: AUTOLA_OPS, dtype coverage and loading the extension."""
import importlib.machinery
import importlib.util

import pytest
import torch

from autola_mm.ops import active_ops_path, channel_stats, compiled_ops_available, extension


def test_reference_is_forced_by_environment(monkeypatch):
    monkeypatch.setenv('AUTOLA_OPS', 'reference')
    assert active_ops_path(torch.randn(1, 2, 3, 3)) == 'reference'


def test_auto_takes_compiled_ops_where_built(monkeypatch):
    monkeypatch.delenv('AUTOLA_OPS', raising=False)
    expected = 'compiled' if compiled_ops_available('cpu') else 'reference'
    assert active_ops_path(torch.randn(1, 2, 3, 3)) == expected
    assert active_ops_path(torch.randn(1, 2, 3, 3, dtype=torch.float64)) == expected


def test_uncovered_dtype_takes_reference_path(monkeypatch):
    monkeypatch.delenv('AUTOLA_OPS', raising=False)
    x = torch.randn(1, 2, 3, 3).to(torch.bfloat16)
    assert active_ops_path(x) == 'reference'
    avg, max_ = channel_stats(x)
    assert avg.dtype == torch.bfloat16
    torch.testing.assert_close(max_, x.amax(dim=(2, 3), keepdim=True))


def test_compiled_mode_refuses_uncovered_inputs(monkeypatch):
    monkeypatch.setenv('AUTOLA_OPS', 'compiled')
    with pytest.raises(RuntimeError, match='AUTOLA_OPS=compiled.*torch.bfloat16'):
        channel_stats(torch.randn(1, 2, 3, 3).to(torch.bfloat16))


def test_unknown_mode_is_rejected(monkeypatch):
    monkeypatch.setenv('AUTOLA_OPS', 'fast')
    with pytest.raises(ValueError, match="AUTOLA_OPS='fast': expected one of auto, compiled"):
        channel_stats(torch.randn(1, 2, 3, 3))


def test_cuda_kernels_are_reported_only_when_built():
    if not compiled_ops_available():
        assert not compiled_ops_available('cpu') and not compiled_ops_available('cuda')
    else:
        assert compiled_ops_available('cpu')
        assert compiled_ops_available('cuda') == bool(extension._EXTENSION.with_cuda)


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
