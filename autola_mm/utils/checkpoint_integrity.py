"""One clear error for a checkpoint file that is truncated or corrupt.

``torch.load`` reports a truncated checkpoint as ``OSError: [Errno 22]
Invalid argument``, a file of another kind as ``KeyError: 101`` or an empty
``EOFError``, and loads a file whose tensor bytes were damaged without a
word. mmengine passes these on from deep inside ``Runner.resume``.

:func:`load_from_local_file` replaces mmengine's loader of local files (the
one ``--resume``, ``load_from``, ``tools/test.py`` and the analysis tools of
AutoLA, Ma et al., NeurIPS 2020, all go through): it checks the file first
(:func:`checkpoint_file_problem`: the zip archive ``torch.save`` writes, and
the CRC-32 of every record in it) and raises :class:`CorruptCheckpointError`,
which names the file, the problem and what to do.
"""
import os
import os.path as osp
import zipfile
from typing import Optional

from mmengine.runner.checkpoint import load_from_local

#: The first bytes of a zip archive, the format of ``torch.save`` since torch 1.6.
ZIP_MAGIC = b'PK\x03\x04'
#: The first bytes of a checkpoint in torch's legacy format (a pickled magic number).
LEGACY_MAGIC = b'\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19.'


class CorruptCheckpointError(ValueError):
    """A checkpoint file that cannot be read: truncated, damaged or not a checkpoint."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(
            f'checkpoint {path} is truncated or corrupt ({reason}); nothing was loaded. '
            'A run killed while writing a checkpoint leaves such a file: use another '
            'checkpoint, e.g. an earlier epoch_*.pth beside it (--resume PATH resumes '
            'from a named one)')


def checkpoint_file_problem(path: str) -> Optional[str]:
    """What makes ``path`` unreadable as a checkpoint, if anything can be told.

    Args:
        path (str): An existing local file.

    Returns:
        str | None: The problem in words, or None for a complete zip archive
        whose records pass their CRC-32 check and for a file in torch's legacy
        format (which has no checksums to check).
    """
    size = os.path.getsize(path)
    if size == 0:
        return 'the file is empty'
    with open(path, 'rb') as file:
        head = file.read(len(LEGACY_MAGIC))
    if head.startswith(LEGACY_MAGIC):
        return None
    if not head.startswith(ZIP_MAGIC):
        return (f'{size} bytes that are not a file torch.save writes: neither a zip archive '
                'nor torch\'s legacy format')
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        if str(error) == 'File is not a zip file':  # no end of central directory
            return f'{size} bytes, the end of its zip archive is missing'
        return f'{size} bytes, its zip archive is damaged: {error}'
    if damaged is not None:
        return f'the bytes of its record {damaged} fail their CRC-32 check'
    return None


def load_from_local_file(filename: str, map_location=None):
    """mmengine's ``load_from_local``, refusing a truncated or corrupt file first.

    Args:
        filename (str): Path of the checkpoint (``~`` is expanded).
        map_location: As for ``torch.load``.

    Returns:
        dict: The checkpoint.

    Raises:
        CorruptCheckpointError: When :func:`checkpoint_file_problem` finds a
            problem, or a legacy-format file ends early.
        FileNotFoundError: When the file does not exist (mmengine's error).
    """
    path = osp.expanduser(filename)
    if osp.isfile(path):
        problem = checkpoint_file_problem(path)
        if problem is not None:
            raise CorruptCheckpointError(filename, problem)
    try:
        return load_from_local(filename, map_location)
    except EOFError as error:
        raise CorruptCheckpointError(filename, 'the file ends early') from error
