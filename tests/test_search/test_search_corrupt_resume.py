"""``tools/search.py --resume`` of a truncated checkpoint ends with one message naming it.

The search runs in this process on the tiny search config over synthetic
CIFAR-format data; the checkpoint is the first half of a small ``torch.save``
file, what a search killed while writing a checkpoint without atomic writes
leaves behind.
"""
import pytest
import torch
from search_testkit import write_tiny_search_config
from tool_loading import load_tool


def test_resume_from_a_truncated_checkpoint(synthetic_cifar, tmp_path):
    config = write_tiny_search_config(tmp_path / 'tiny_search.py', synthetic_cifar)
    complete = tmp_path / 'complete.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=dict(alpha=torch.zeros(10, 9))), complete)
    truncated = tmp_path / 'epoch_1.pth'
    data = complete.read_bytes()
    truncated.write_bytes(data[:len(data) // 2])
    work_dir = tmp_path / 'work'
    with pytest.raises(SystemExit) as info:
        load_tool('search').main([str(config), '--work-dir', str(work_dir),
                                  '--resume', str(truncated)])
    assert str(info.value.code).startswith(
        f'error: checkpoint {truncated} is truncated or corrupt ({len(data) // 2} bytes, the '
        'end of its zip archive is missing); nothing was loaded.')
    assert not (work_dir / 'genotype.json').exists()  # nothing was searched
