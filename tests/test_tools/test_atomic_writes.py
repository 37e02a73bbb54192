"""``write_atomically``: a file holds its old content or all of the new one.

A kill of the writing process is tested end to end in
``test_checkpoint_kill.py``; here a write that fails halfway.
"""
import os

import pytest

from autola_mm.utils import write_atomically
from autola_mm.utils.atomic_checkpoint_hook import AtomicLocalBackend


def test_the_new_content_replaces_the_old(tmp_path):
    path = tmp_path / 'sub' / 'epoch_1.pth'
    write_atomically(str(path), b'first')
    write_atomically(str(path), b'second')
    assert path.read_bytes() == b'second'
    assert sorted(p.name for p in path.parent.iterdir()) == ['epoch_1.pth']


def test_a_failed_write_keeps_the_old_content(tmp_path, monkeypatch):
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(b'complete')

    def disk_full(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', disk_full)
    with pytest.raises(OSError, match='No space left'):
        write_atomically(str(path), b'new checkpoint')
    assert path.read_bytes() == b'complete'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['epoch_1.pth']


def test_the_backend_writes_bytes_and_text_atomically(tmp_path):
    backend = AtomicLocalBackend()
    backend.put(b'\x00\x01', tmp_path / 'a.pth')
    backend.put_text('epoch_1.pth', tmp_path / 'last_checkpoint')
    assert (tmp_path / 'a.pth').read_bytes() == b'\x00\x01'
    assert backend.get_text(tmp_path / 'last_checkpoint') == 'epoch_1.pth'


def test_the_search_files_keep_their_last_whole_version(tmp_path, monkeypatch):
    # genotype.json, alphas.npy and the search's pictures are rewritten every
    # epoch: an interrupted rewrite must leave the previous epoch's file.
    from types import SimpleNamespace

    import numpy as np
    import torch

    from autola_mm.engine import AlphaHistoryHook
    from autola_mm.engine.search_plots import plot_genotype
    from autola_mm.models.attention import Genotype

    genotype = Genotype.build()
    hook = AlphaHistoryHook()
    hook.history = [torch.zeros(10, 9)]
    runner = SimpleNamespace(work_dir=str(tmp_path))
    writes = [lambda: genotype.to_json(tmp_path / 'genotype.json'), lambda: hook.save(runner),
              lambda: plot_genotype(genotype, str(tmp_path / 'genotype.png'))]
    for write in writes:
        write()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ['alphas.npy', 'genotype.json', 'genotype.png']

    def disk_full(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', disk_full)
    hook.history.append(torch.ones(10, 9))
    for write in writes:
        with pytest.raises(OSError, match='No space left'):
            write()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert Genotype.from_json(tmp_path / 'genotype.json') == genotype
    assert np.load(tmp_path / 'alphas.npy').shape == (1, 10, 9)
