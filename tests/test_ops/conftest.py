"""Fixtures of the attention core tests: the path under test.

Every test that takes ``ops_path`` runs twice: once on the compiled operators
and once on the pure PyTorch reference (``AUTOLA_OPS=reference``). Both must
match the float64 numpy formulas of ``ops_numpy_reference.py``.
"""
import pytest

from autola_mm.ops import compiled_ops_available


@pytest.fixture(params=['compiled', 'reference'])
def ops_path(request, monkeypatch):
    """``'compiled'`` or ``'reference'``, with ``AUTOLA_OPS`` set to force it."""
    if request.param == 'compiled' and not compiled_ops_available('cpu'):
        pytest.skip('the compiled attention core is not built (AUTOLA_WITH_OPS=0 build); '
                    'build it with `python setup.py build_ext --inplace`')
    monkeypatch.setenv('AUTOLA_OPS', request.param)
    return request.param


@pytest.fixture
def needs_compiled():
    """Skip a test that checks the compiled operators themselves when they are absent."""
    if not compiled_ops_available('cpu'):
        pytest.skip('the compiled attention core is not built (AUTOLA_WITH_OPS=0 build)')
