"""setup.py's choice of what to build: CPU kernels, CUDA kernels, or none.

``make_ops_extensions`` is taken out of setup.py without running ``setup()``,
and asked under faked torch builds (ROCm) and environments.
"""
import ast
from pathlib import Path

import pytest
import torch
from torch.utils.cpp_extension import CUDA_HOME

SETUP = Path(__file__).resolve().parents[2] / 'setup.py'


@pytest.fixture(scope='module')
def make_ops_extensions():
    tree = ast.parse(SETUP.read_text())
    keep = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
            or (isinstance(node, ast.FunctionDef)
                and node.name in ('make_ops_extensions', 'default_cuda_arch_list'))
            or (isinstance(node, ast.Assign) and all(
                isinstance(target, ast.Name) and target.id.isupper() for target in node.targets))]
    namespace = {}
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(SETUP), 'exec'), namespace)
    return namespace['make_ops_extensions']


def macros(extensions):
    return [name for extension in extensions for name, _ in extension.define_macros]


def test_rocm_torch_builds_the_cpu_kernels_only(make_ops_extensions, monkeypatch, capsys):
    monkeypatch.setattr(torch.version, 'hip', '6.2.41133', raising=False)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.delenv('FORCE_CUDA', raising=False)
    monkeypatch.delenv('AUTOLA_WITH_OPS', raising=False)
    extensions, _ = make_ops_extensions()
    assert [extension.name for extension in extensions] == ['autola_mm.ops._ext']
    assert 'AUTOLA_MM_WITH_CUDA' not in macros(extensions)
    assert not any(source.endswith('.cu') for source in extensions[0].sources)
    assert 'ROCm build (HIP 6.2.41133)' in capsys.readouterr().out


def test_force_cuda_with_a_rocm_torch_is_refused(make_ops_extensions, monkeypatch):
    monkeypatch.setattr(torch.version, 'hip', '6.2.41133', raising=False)
    monkeypatch.setenv('FORCE_CUDA', '1')
    monkeypatch.delenv('AUTOLA_WITH_OPS', raising=False)
    with pytest.raises(SystemExit, match='FORCE_CUDA=1, but this torch is a ROCm build'):
        make_ops_extensions()


@pytest.mark.skipif(CUDA_HOME is None, reason='needs the CUDA toolkit (CUDA_HOME) on disk')
def test_force_cuda_builds_the_cuda_kernels(make_ops_extensions, monkeypatch):
    monkeypatch.setattr(torch.version, 'hip', None, raising=False)
    monkeypatch.setenv('FORCE_CUDA', '1')
    monkeypatch.setenv('TORCH_CUDA_ARCH_LIST', '9.0')
    monkeypatch.delenv('AUTOLA_WITH_OPS', raising=False)
    extensions, _ = make_ops_extensions()
    assert 'AUTOLA_MM_WITH_CUDA' in macros(extensions)
    assert any(source.endswith('.cu') for source in extensions[0].sources)


def test_no_extension_without_ops(make_ops_extensions, monkeypatch):
    monkeypatch.setenv('AUTOLA_WITH_OPS', '0')
    assert make_ops_extensions() == ([], {})
