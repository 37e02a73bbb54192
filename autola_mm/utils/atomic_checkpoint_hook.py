"""Checkpoints that a kill cannot leave half-written.

mmengine's ``CheckpointHook`` writes ``epoch_N.pth`` in place, removes the
oldest checkpoint *before* writing the new one, rewrites the checkpoint of an
epoch in place when the best score improves (after ``last_checkpoint``
already names it) and writes ``last_checkpoint`` in place too. A job killed
or pre-empted while a checkpoint is on its way to the disk can therefore
leave ``--resume`` pointing at a truncated file, or at none at all.

:class:`AtomicCheckpointHook` (``checkpoint=dict(type='AtomicCheckpointHook')``
in the runtime configs of AutoLA, Ma et al., NeurIPS 2020) takes every
argument of ``CheckpointHook`` and writes every file through
:func:`write_atomically`: a temporary file beside the target, flushed to the
disk, then renamed over it. ``last_checkpoint`` names a checkpoint only once
that file is complete, and outdated checkpoints are removed only after that.
A kill therefore costs the interrupted epoch and nothing else.
"""
import contextlib
import glob
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

#: Name of :class:`AtomicLocalBackend` in mmengine's file backends.
ATOMIC_BACKEND = 'autola_atomic_local'
#: Suffix of the temporary files :func:`write_atomically` writes.
PARTIAL_SUFFIX = '.partial'


def partial_path(path: str) -> str:
    """The temporary file :func:`write_atomically` writes ``path`` through.

    A hidden file in the same directory (so that the rename stays on one file
    system), named after the target and this process.
    """
    directory, name = osp.split(path)
    return osp.join(directory, f'.{name}.{os.getpid()}{PARTIAL_SUFFIX}')


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds its old content or all of ``data``.

    The bytes go to :func:`partial_path`, are flushed and fsynced, and the
    file is renamed over ``path`` (``os.replace``, atomic on POSIX and
    Windows); the directory is fsynced so that the rename survives a crash.

    Args:
        path (str): The file to write; its directory is created if needed.
        data (bytes): Its new content.
    """
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    partial = partial_path(path)
    try:
        with open(partial, 'wb') as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(partial)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Persist a rename in ``directory`` where the platform allows it."""
    if not hasattr(os, 'O_DIRECTORY'):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with contextlib.suppress(OSError):  # some file systems refuse
            os.fsync(fd)
    finally:
        os.close(fd)


@register_backend(ATOMIC_BACKEND, force=True)
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose ``put`` and ``put_text`` write atomically."""

    def put(self, obj: bytes, filepath) -> None:
        """Write bytes with :func:`write_atomically`."""
        write_atomically(str(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        """Write text with :func:`write_atomically`."""
        write_atomically(str(filepath), obj.encode(encoding))


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose files are complete or absent, never truncated.

    Takes the arguments of mmengine's ``CheckpointHook``. Checkpoints in a
    local directory (the work dir by default) are written with
    :func:`write_atomically`; ``last_checkpoint`` is updated only after the
    checkpoint it names is complete, and checkpoints beyond
    ``max_keep_ckpts`` are removed only after that. Temporary files of a run
    that was killed are removed when training starts. Other storage backends
    (``backend_args``, a remote ``out_dir``) keep mmengine's behaviour.
    """

    def before_train(self, runner) -> None:
        """Set up as ``CheckpointHook`` does; write local files atomically."""
        super().before_train(runner)
        if self.file_client_args is None and type(self.file_backend) is LocalBackend:
            self.backend_args = dict(backend=ATOMIC_BACKEND)
            self.file_backend = AtomicLocalBackend()
            if is_main_process():
                for stale in glob.glob(osp.join(self.out_dir, f'.*{PARTIAL_SUFFIX}')):
                    os.remove(stale)

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        """Save the checkpoint of ``step``, then name it in ``last_checkpoint``,
        then remove the checkpoints beyond ``max_keep_ckpts``."""
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return

        write_atomically(osp.join(runner.work_dir, 'last_checkpoint'),
                         str(self.last_ckpt).encode('utf-8'))
        for old_step in outdated:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old_step))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # DeepSpeed saves a directory
                self.file_backend.rmtree(path)
