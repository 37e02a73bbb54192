"""Let ``torch.load(weights_only=True)`` read mm checkpoints, and nothing more.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``, which refuses
to unpickle any global that is not allow-listed. mmengine 0.10.7 does not pass
``weights_only``, and its checkpoints store the runner's message hub: mmengine
``HistoryBuffer`` objects holding numpy arrays, numpy scalars and the buffer's
bound statistics methods (pickled as ``getattr(buffer, 'mean')``). Without
these globals ``--resume`` fails with ``Unsupported global:
mmengine.logging.history_buffer.HistoryBuffer``.

We allow-list exactly those types. ``getattr`` is safe to allow here: the
weights-only unpickler calls only allow-listed functions, so an attribute
fetched through it can be stored but never called.
"""
import numpy as np
import torch
from mmengine.logging import HistoryBuffer


# Bool, signed and unsigned integers, floats and complex numbers.
_NUMERIC_TYPECODES = '?bBhHiIlLqQefdgFDG'


def _numpy_globals() -> list:
    """The numpy callables and classes a pickled ndarray or scalar refers to."""
    multiarray = np.core.multiarray
    dtype_classes = {type(np.dtype(code)) for code in _NUMERIC_TYPECODES}
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
            *sorted(dtype_classes, key=lambda cls: cls.__name__)]


def register_checkpoint_globals() -> None:
    """Allow-list the globals of mmengine checkpoints for weights-only loads."""
    torch.serialization.add_safe_globals(
        [HistoryBuffer, getattr, *_numpy_globals()])
