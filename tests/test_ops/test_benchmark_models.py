"""``tools/analysis/benchmark_models.py`` times whole networks and counts HOGA's operator calls."""
import re

import pytest
from tool_loading import load_tool

from autola_mm.ops import compiled_ops_available

benchmark_models = load_tool('analysis/benchmark_models')


@pytest.mark.skipif(not compiled_ops_available('cpu'), reason='the compiled ops are not built')
def test_one_round_of_resnet20_prints_a_row_per_network_and_the_headline(capsys):
    benchmark_models.main(['--networks', 'resnet20', '--paths', 'compiled', '--rounds', '1'])
    out = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in out if line.startswith('resnet20 ')]
    assert [row[1] for row in rows] == ['plain', 'SE', 'CBAM', 'HOGA']
    assert rows[0][4] == '1.00' and rows[0][7] == '1.000'  # plain against itself
    assert float(rows[3][7]) == pytest.approx(1.258, abs=5e-3)  # HOGA's 26% more FLOPs
    assert re.fullmatch(
        r'training step relative to no attention \(compiled\): SE resnet20 \d+\.\d\dx, '
        r'CBAM resnet20 \d+\.\d\dx, HOGA resnet20 \d+\.\d\dx; '
        r'HOGA forward\+backward: \d+ compute operator calls', out[-1])

