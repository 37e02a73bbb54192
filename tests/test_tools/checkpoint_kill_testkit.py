"""A training process killed halfway through writing a checkpoint.

Tool processes the tests start import this module through the config's
``custom_imports`` (``PYTHONPATH`` holds this folder), which registers
:class:`KillWhileSavingCheckpointHook`.
"""
import builtins
import os
import signal

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


class _HalfWriteThenKill:
    """A binary file whose first ``write`` stores half of its bytes, then
    SIGKILLs the process."""

    def __init__(self, file):
        self._file = file

    def write(self, data) -> None:
        """Store the first half of ``data`` on the disk and die."""
        self._file.write(bytes(data)[:len(data) // 2])
        self._file.flush()
        os.fsync(self._file.fileno())
        os.kill(os.getpid(), signal.SIGKILL)

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._file.close()


@HOOKS.register_module()
class KillWhileSavingCheckpointHook(Hook):
    """SIGKILL the process halfway through writing the checkpoint of epoch ``epoch``.

    From the ``before_save_checkpoint`` of that checkpoint on, the first file
    opened for binary writing (the checkpoint, or the temporary file it is
    written through) gets half of its bytes, then the process is killed: a
    crash or a pre-empted job while a checkpoint is on its way to the disk.
    Whatever writes the checkpoint, it opens the file with ``open``.

    Args:
        epoch (int): The epoch (1-based) of the periodic checkpoint to interrupt.
    """

    def __init__(self, epoch: int):
        self.epoch = epoch

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Make the next binary ``open`` kill the process halfway through its write."""
        if checkpoint['meta'].get('epoch') != self.epoch:
            return
        real_open = builtins.open

        def open_then_kill(file, mode='r', *args, **kwargs):
            handle = real_open(file, mode, *args, **kwargs)
            if 'b' in mode and ('w' in mode or 'x' in mode):
                return _HalfWriteThenKill(handle)
            return handle

        builtins.open = open_then_kill
