"""``tools/analysis/benchmark_search.py`` times real search steps of a config's supernet."""
import importlib.util

import pytest
from search_testkit import REPO_ROOT, SEARCH_CONFIG


def load_benchmark_tool():
    path = REPO_ROOT / 'tools' / 'analysis' / 'benchmark_search.py'
    spec = importlib.util.spec_from_file_location('benchmark_search_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


benchmark_search = load_benchmark_tool()


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
