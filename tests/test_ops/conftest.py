"""Fixtures of the attention core tests: the path, the device and the dtype under test.

``ops`` runs a test on each path, :mod:`autola_mm.ops.compiled` and
:mod:`autola_mm.ops.reference` (forced with ``forced_ops_mode``); ``device``
on the CPU and on CUDA; ``case`` on every (device, dtype) a path covers:
float32 everywhere, float16 and bfloat16 on CUDA. Where CUDA or the
compiled operators are absent the test is collected and skipped with the
reason. Both paths must match the float64 numpy formulas of
``ops_numpy_reference.py`` within the dtype's tolerance.
"""
from typing import NamedTuple

import pytest
import torch

from autola_mm import ops as autola_ops
from autola_mm.ops import compiled_ops_available, forced_ops_mode

NO_CUDA = 'no CUDA device here: the CUDA kernels are tested where torch.cuda.is_available()'
NOT_BUILT = ('the compiled attention core is not built for {device} '
             '(make build-cuda, or pip install -e . on a machine with CUDA)')

#: (rtol, atol) of each dtype against the float64 oracle.
TOLERANCES = {
    torch.float64: (1e-10, 1e-12),
    torch.float32: (1e-5, 1e-6),
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (1.6e-2, 1.6e-2),
}


class Case(NamedTuple):
    """A device and a dtype to run on, with the dtype's tolerance."""

    device: str
    dtype: torch.dtype

    @property
    def tolerance(self) -> dict:
        rtol, atol = TOLERANCES[self.dtype]
        return dict(rtol=rtol, atol=atol)

    def sum_tolerance(self, terms: int) -> dict:
        """The dtype's tolerance, its atol scaled by sqrt(the products summed into one value)."""
        rtol, atol = TOLERANCES[self.dtype]
        return dict(rtol=rtol, atol=atol * max(1, terms)**.5)

    def randn(self, *shape, seed: int = 0) -> torch.Tensor:
        """Standard normal values of ``shape``, the same on every device."""
        values = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
        return values.to(self.device, self.dtype)


def _on_cuda(*values, id):
    return pytest.param(*values, id=id, marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason=NO_CUDA))


DEVICES = [pytest.param('cpu', id='cpu'), _on_cuda('cuda', id='cuda')]
CASES = [pytest.param(Case('cpu', torch.float32), id='cpu-float32')] + [
    _on_cuda(Case('cuda', dtype), id=f'cuda-{str(dtype)[6:]}')
    for dtype in (torch.float32, torch.float16, torch.bfloat16)
]


@pytest.fixture(params=['compiled', 'reference'])
def ops(request):
    """The path under test, chosen for the whole test; ``AUTOLA_OPS`` is restored after."""
    if request.param == 'compiled' and not compiled_ops_available():
        pytest.skip(NOT_BUILT.format(device='any device') + ' (an AUTOLA_WITH_OPS=0 build)')
    with forced_ops_mode(request.param):
        yield getattr(autola_ops, request.param)


@pytest.fixture(params=DEVICES)
def device(request, ops):
    """``'cpu'`` or ``'cuda'``; a compiled path not built for it is skipped."""
    _require(ops, request.param)
    return request.param


@pytest.fixture(params=CASES)
def case(request, ops):
    """A :class:`Case`; a compiled path not built for its device is skipped."""
    _require(ops, request.param.device)
    return request.param


def _require(ops, device: str) -> None:
    if ops is autola_ops.compiled and not compiled_ops_available(device):
        pytest.skip(NOT_BUILT.format(device=device))


@pytest.fixture
def needs_compiled():
    """Skip a test that checks the compiled operators themselves when they are absent."""
    if not compiled_ops_available('cpu'):
        pytest.skip(NOT_BUILT.format(device='cpu') + ' (an AUTOLA_WITH_OPS=0 build)')


@pytest.fixture(params=DEVICES)
def compiled_device(request, needs_compiled):
    """``'cpu'`` or ``'cuda'`` for a test of the operators ``torch.ops.autola_mm`` themselves."""
    _require(autola_ops.compiled, request.param)
    return request.param


@pytest.fixture(params=CASES)
def compiled_case(request, needs_compiled):
    """A :class:`Case` for a test that compares the compiled path with the reference itself."""
    _require(autola_ops.compiled, request.param.device)
    return request.param


@pytest.fixture(autouse=True)
def ieee_float32():
    """float32 convolutions and matrix products in IEEE float32, not TF32 (cuDNN's default).

    Both paths run cuDNN's convolution on CUDA; with TF32 (10 mantissa bits)
    a float32 result misses float32's tolerance against the oracle.
    """
    settings = [(backend, backend.fp32_precision) for backend in _fp32_backends()]
    for backend, _ in settings:
        backend.fp32_precision = 'ieee'
    yield
    for backend, precision in settings:
        backend.fp32_precision = precision


def _fp32_backends():
    backends = [getattr(torch.backends.cudnn, 'conv', None),
                getattr(torch.backends.cuda, 'matmul', None)]
    return [b for b in backends if b is not None and hasattr(b, 'fp32_precision')]


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same global RNG state (modules' initial weights, randn)."""
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """One torch thread for a test of many tiny calls (gradcheck): on a busy 2-core machine
    OpenMP's waiting costs far more than the arithmetic. The op tests keep the default
    thread count to exercise the parallel loops of the compiled kernels."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def cpu_float32() -> Case:
    """float32 on the CPU: a :class:`Case` for tests of CPU matters (threads, CPU autocast)."""
    return Case('cpu', torch.float32)
