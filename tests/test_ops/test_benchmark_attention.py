"""tools/analysis/benchmark_attention.py on tiny shapes: one table, a headline, sane numbers."""
import itertools

import pytest
import torch
from tool_loading import load_tool

@pytest.fixture(scope='module')
def tool():
    return load_tool('analysis/benchmark_attention')


def test_peak_memory_counts_live_allocations(tool):
    x = torch.zeros(256, 1024)  # 1 MiB

    def step():
        a = x + 1  # 1 MiB live ...
        b = a * 2  # ... 2 MiB live at the peak
        del a
        return b.sum()

    peak = tool.peak_memory(step)
    assert 2 * 2**20 <= peak < 2 * 2**20 + 4096


def test_round_robin_measures_every_step_after_itself(tool):
    calls = []
    steps = {'a': lambda: calls.append('a'), 'b': lambda: calls.append('b')}
    medians = tool.round_robin(steps, rounds=3)
    assert calls == list(itertools.chain.from_iterable(['a', 'a', 'b', 'b'] for _ in range(3)))
    assert set(medians) == {'a', 'b'} and all(t >= 0 for t in medians.values())


def test_tiny_run_prints_table_and_headline(tool, needs_compiled, capsys):
    pytest.importorskip('timm', reason='timm (requirements/optional.txt) is the comparison')
    tool.main(['--shapes', '2x8x6x6', '--rounds', '1', '--no-torch-compile', '--threads', '1'])
    lines = capsys.readouterr().out.strip().splitlines()
    rows = [line for line in lines if line.split()[:1] in (['SE'], ['CBAM'], ['HOGA'])]
    assert len(rows) == 3 + 3 + 2  # eager, compiled and timm for SE and CBAM; no timm HOGA
    assert lines[-1].startswith('headline at 2x8x6x6: CBAM ')
    assert 'SE ' in lines[-1] and 'HOGA ' in lines[-1] and 'peak memory' in lines[-1]


def test_shape_argument_is_checked(tool):
    with pytest.raises(SystemExit):
        tool.parse_args(['--shapes', '16x256x56'])


def test_training_step_counts_and_frees_its_gradients(tool):
    module = torch.nn.Conv2d(8, 8, 1)
    x = torch.randn(4, 8, 32, 32, requires_grad=True)
    _, train = tool.runs(module, x, torch.randn(4, 8, 32, 32), 'reference')
    peak = tool.peak_memory(train)
    assert x.grad is None and all(p.grad is None for p in module.parameters())
    assert peak >= 2 * x.nbytes  # the output and the gradient of x, at least
