"""A truncated or corrupt checkpoint ends every tool with one message naming the file.

The files are damaged copies of a small checkpoint written here; the tools
(``tools/train.py --resume``, ``tools/test.py``, an analysis tool) run in
this process on a tiny CIFAR-10 ResNet-20 config with synthetic data.
``tools/search.py --resume`` is tested in ``tests/test_search``.
"""
import pytest
import torch
from tool_loading import load_tool
from tools_testkit import CONFIG_ROOT, cifar_body, derived_config, write_cifar10

from autola_mm.analysis import run_tool
from autola_mm.utils import CorruptCheckpointError, read_checkpoint

PLAIN = CONFIG_ROOT / 'autola_cifar/resnet20_4xb64-cos500e_cifar10.py'


def damaged_copies(folder):
    """A complete checkpoint and, by name, damaged copies with the reason each gets."""
    good = folder / 'good.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=dict(weight=torch.arange(4096.))), good)
    data = good.read_bytes()
    crc = bytearray(data)
    start = data.index(bytes(torch.arange(4096.).numpy()))  # the tensor's bytes
    crc[start + 100:start + 200] = bytes(100)
    damaged = dict(
        truncated=(data[:len(data) // 2],
                   f'{len(data) // 2} bytes, the end of its zip archive is missing'),
        empty=(b'', 'the file is empty'),
        garbage=(b'not a checkpoint\n' * 8, '136 bytes that are not a file torch.save writes: '
                 "neither a zip archive nor torch's legacy format"),
        crc=(bytes(crc), 'the bytes of its record good/data/0 fail their CRC-32 check'))
    for name, (content, _) in damaged.items():
        (folder / f'{name}.pth').write_bytes(content)
    return good, {name: (folder / f'{name}.pth', reason) for name, (_, reason) in damaged.items()}


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """A tiny ResNet-20 config, its data and the damaged checkpoints."""
    folder = tmp_path_factory.mktemp('corrupt')
    root = write_cifar10(folder / 'cifar10', num_train=4, num_test=4)
    config = derived_config(folder, 'plain', PLAIN,
                            cifar_body(root, train_images=4, batch_size=2, max_epochs=1))
    good, damaged = damaged_copies(folder)
    return config, good, damaged


def expected(path, reason: str) -> str:
    """The start of the message for ``path``."""
    return f'checkpoint {path} is truncated or corrupt ({reason}); nothing was loaded.'


@pytest.mark.parametrize('name', ['truncated', 'empty', 'garbage', 'crc'])
def test_each_damage_is_named(files, name):
    _, good, damaged = files
    path, reason = damaged[name]
    with pytest.raises(CorruptCheckpointError) as info:
        read_checkpoint(str(path))
    message = str(info.value)
    assert message.startswith(expected(path, reason))
    assert message.endswith('use another checkpoint, e.g. an earlier epoch_*.pth beside it '
                            '(--resume PATH resumes from a named one)')
    assert read_checkpoint(str(good))['meta'] == dict(epoch=1)


def test_train_resume(files, tmp_path):
    """``--resume`` without a path takes the file ``last_checkpoint`` names."""
    config, _, damaged = files
    path, reason = damaged['truncated']
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    (work_dir / 'last_checkpoint').write_text(str(path))
    with pytest.raises(SystemExit) as info:
        load_tool('train').main([str(config), '--work-dir', str(work_dir), '--resume'])
    assert str(info.value.code).startswith('error: ' + expected(path, reason))
    assert not list(work_dir.glob('*.pth'))  # nothing was trained


def test_test_tool(files, tmp_path):
    config, _, damaged = files
    path, reason = damaged['garbage']
    with pytest.raises(SystemExit) as info:
        load_tool('test').main([str(config), str(path), '--work-dir', str(tmp_path / 'work')])
    assert str(info.value.code).startswith('error: ' + expected(path, reason))
    assert not (tmp_path / 'work').exists()  # stopped before the Runner was built


def test_analysis_tool(files, tmp_path):
    config, _, damaged = files
    path, reason = damaged['crc']
    tool = load_tool('analysis/class_selectivity')
    with pytest.raises(SystemExit) as info:
        run_tool(lambda: tool.main(['--model', str(config), str(path),
                                    '--out-dir', str(tmp_path / 'out')]))
    assert str(info.value.code).startswith('error: ' + expected(path, reason))
    assert not (tmp_path / 'out').exists()
