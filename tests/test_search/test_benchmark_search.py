"""``tools/analysis/benchmark_search.py`` times real search steps of a config's supernet."""

import pytest
from search_testkit import SEARCH_CONFIG
from tool_loading import load_tool


benchmark_search = load_tool('analysis/benchmark_search')


def test_the_benchmark_prints_the_median_step_time_and_the_load(capsys):
    median = benchmark_search.main([
        str(SEARCH_CONFIG), '--batch-size', '4', '--image-size', '8', '--steps', '3',
        '--warmup', '0', '--threads', '1', '--cfg-options', 'model.backbone.depth=8',
        'model.backbone.base_channels=8'
    ])
    out = capsys.readouterr().out
    assert out.count('CPU') == 4  # three steps and the summary
    summary = out.strip().splitlines()[-1]
    assert summary.startswith('first-order search step, batch 4, 8x8, 1 threads')
    assert f'median {median:.3f} s' in summary and 'load average' in summary
    assert median > 0


def test_the_benchmark_refuses_empty_settings():
    with pytest.raises(ValueError, match='--steps=0: expected >= 1'):
        benchmark_search.parse_args(['--steps', '0'])
