"""The compiled attention core and the choice between it and the reference.

``setup.py`` builds the operators ``torch.ops.autola_mm.*`` into the extension
module ``autola_mm.ops._ext`` (CPU kernels by default, CUDA ones too when built
with CUDA; none with ``AUTOLA_WITH_OPS=0``). Importing this module loads it. A
missing extension means the reference path (:mod:`.reference`); an extension
that exists but fails to load is an error, never a silent fallback.

Which path a call takes is decided per call from its inputs' devices and
dtypes and from the environment variable ``AUTOLA_OPS``:

* ``auto`` (the default): the compiled operator where it is built and covers
  the inputs (all of one dtype and device: float32 and float64 on CPU;
  float32, float16 and bfloat16 on CUDA), the reference otherwise (which
  also promotes mixed dtypes);
* ``reference``: always the reference;
* ``compiled``: the compiled operator, and an error where it does not apply.

Under ``torch.compile`` the variable is read when a function is traced.
"""
import importlib
import importlib.util
import os
from typing import Optional, Union

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


def active_ops_path(x: Tensor, *others: Tensor) -> str:
    """The path a call on ``x`` (and ``others``) takes now: ``'compiled'`` or ``'reference'``.

    Args:
        x (Tensor): The feature map an operator is called on.
        *others (Tensor): The operator's other tensor arguments (logits).

    Returns:
        str: ``'compiled'`` or ``'reference'``.
    """
    mode = ops_mode()
    if mode == 'reference':
        return 'reference'
    covered = (compiled_ops_available(x.device)
               and x.dtype in COVERED_DTYPES.get(x.device.type, ())
               and all(t.dtype == x.dtype and t.device == x.device for t in others))
    if covered:
        return 'compiled'
    if mode == 'compiled':
        got = ', '.join(f'{t.dtype} on {t.device}' for t in (x, *others))
        raise RuntimeError(f'{OPS_ENV}=compiled, but the compiled attention core does not '
                           f'cover these inputs ({got}); {_coverage()}')
    return 'reference'


def _coverage() -> str:
    if _EXTENSION is None:
        return 'it is not built'
    devices = ['cpu', 'cuda'] if _EXTENSION.with_cuda else ['cpu']
    return 'it covers ' + '; '.join(
        f'{device}: {", ".join(str(dtype) for dtype in COVERED_DTYPES[device])}'
        for device in devices) + ', all inputs of one dtype and device'


def use_compiled(x: Tensor, *others: Tensor) -> bool:
    """Whether a call on ``x`` (and ``others``) takes the compiled operator."""
    return active_ops_path(x, *others) == 'compiled'
