"""The compiled attention core and the choice between it and the reference.

``setup.py`` builds the operators ``torch.ops.autola_mm.*`` into the extension
module ``autola_mm.ops._ext`` (CPU kernels by default, CUDA ones too when built
with CUDA; none with ``AUTOLA_WITH_OPS=0``). Importing this module loads it. A
missing extension means the reference path (:mod:`.reference`); an extension
that exists but fails to load is an error, never a silent fallback.

:func:`ops_for` gives the path of a feature map: :mod:`.compiled` or
:mod:`.reference`, two modules with the same functions. It is chosen once per
(device type, dtype), the first time a map of that kind asks, from the
environment variable ``AUTOLA_OPS`` as it is at that moment:

* ``auto`` (the default): the compiled operators where they are built for the
  device and cover the dtype (float32 and float64 on CPU; float32, float16
  and bfloat16 on CUDA), the reference otherwise;
* ``reference``: always the reference;
* ``compiled``: the compiled operators, and an error where they do not apply.

Under ONNX export (``torch.onnx.export``, both exporters) every module takes
the reference path, so the graph holds standard ONNX operators only. Traced
by ``torch.compile``, a module that would take :mod:`.compiled` takes
:mod:`.traced`: the reference's pools and gates, which the compiler fuses
with their neighbours, and the compiled convolutions.

Set ``AUTOLA_OPS`` before the first forward pass, or run code inside
``with forced_ops_mode(mode):``, which also forgets the choices made so far.
"""
import importlib
import importlib.util
import os
from contextlib import contextmanager
from types import ModuleType
from typing import Dict, Iterator, Optional, Tuple, Union

import torch
from torch import Tensor

EXTENSION = 'autola_mm.ops._ext'
OPS_ENV = 'AUTOLA_OPS'
OPS_MODES = ('auto', 'compiled', 'reference')
COVERED_DTYPES = {
    'cpu': (torch.float32, torch.float64),
    'cuda': (torch.float32, torch.float16, torch.bfloat16),
}


def _load_extension(name: str = EXTENSION):
    """The loaded extension module ``name``, or None when it was not built."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    try:
        return importlib.import_module(name)
    except (ImportError, OSError) as error:
        raise ImportError(
            f'the compiled attention core {spec.origin} exists but does not load: '
            f'{error}. Rebuild it (pip install --no-build-isolation --no-deps -e . '
            'or python setup.py build_ext --inplace), or delete it to use the '
            'reference path.') from error


_EXTENSION = _load_extension()

#: The path chosen for each (device type, dtype, under ONNX export, traced by
#: torch.compile) so far.
_PATHS: Dict[Tuple[str, torch.dtype, bool, bool], ModuleType] = {}


def compiled_ops_available(device: Optional[Union[str, torch.device]] = None) -> bool:
    """Whether the compiled operators are built (for ``device``'s type if given).

    Args:
        device (str | torch.device, optional): A device such as ``'cpu'`` or
            ``'cuda:0'``. None asks whether the extension is built at all.

    Returns:
        bool: True where ``torch.ops.autola_mm`` has kernels for the device.
    """
    if _EXTENSION is None:
        return False
    if device is None:
        return True
    device_type = torch.device(device).type
    return device_type == 'cpu' or (device_type == 'cuda' and bool(_EXTENSION.with_cuda))


def ops_mode() -> str:
    """The value of ``AUTOLA_OPS``: one of ``OPS_MODES``, ``'auto'`` if unset."""
    mode = os.environ.get(OPS_ENV) or 'auto'
    if mode not in OPS_MODES:
        raise ValueError(f'{OPS_ENV}={mode!r}: expected one of {", ".join(OPS_MODES)}')
    return mode


@contextmanager
def forced_ops_mode(mode: str) -> Iterator[None]:
    """Run the block with ``AUTOLA_OPS=mode``, choosing every path anew inside and after it.

    Args:
        mode (str): One of ``OPS_MODES``.
    """
    if mode not in OPS_MODES:
        raise ValueError(f'{OPS_ENV}={mode!r}: expected one of {", ".join(OPS_MODES)}')
    previous = os.environ.get(OPS_ENV)
    _set_mode(mode)
    try:
        yield
    finally:
        _set_mode(previous)


def _set_mode(mode: Optional[str]) -> None:
    if mode is None:
        os.environ.pop(OPS_ENV, None)
    else:
        os.environ[OPS_ENV] = mode
    _PATHS.clear()


def ops_for(x: Tensor) -> ModuleType:
    """The path that operators on ``x`` take: :mod:`.compiled` or :mod:`.reference`.

    Args:
        x (Tensor): The feature map the attention core is called on.

    Returns:
        module: :mod:`autola_mm.ops.compiled` or :mod:`autola_mm.ops.reference`
        (:mod:`autola_mm.ops.traced` instead of the compiled path while
        ``torch.compile`` traces).
    """
    key = (x.device.type, x.dtype, torch.onnx.is_in_onnx_export(),
           torch.compiler.is_compiling())
    path = _PATHS.get(key)
    if path is None:
        path = _PATHS[key] = _choose_path(*key)
    return path


def active_ops_path(x: Tensor) -> str:
    """The name of the path operators on ``x`` take: ``'compiled'``, ``'reference'``, ``'traced'``."""
    return ops_for(x).__name__.rsplit('.', 1)[-1]


def _choose_path(device_type: str, dtype: torch.dtype, onnx_export: bool,
                 compiling: bool) -> ModuleType:
    from . import compiled, reference, traced
    mode = ops_mode()
    if mode == 'reference' or onnx_export:
        return reference
    if compiled_ops_available(device_type) and dtype in COVERED_DTYPES.get(device_type, ()):
        return traced if compiling else compiled
    if mode == 'compiled':
        raise RuntimeError(f'{OPS_ENV}=compiled, but the compiled attention core does not '
                           f'cover {dtype} on {device_type}; {_coverage()}')
    return reference


def _coverage() -> str:
    if _EXTENSION is None:
        return 'it is not built'
    devices = ['cpu', 'cuda'] if _EXTENSION.with_cuda else ['cpu']
    return 'it covers ' + '; '.join(
        f'{device}: {", ".join(str(dtype) for dtype in COVERED_DTYPES[device])}'
        for device in devices)
