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



def test_operation_genotypes_make_one_operation_at_a_time_then_every_edge_skip_connect():
    published = benchmark_models.Genotype.build()
    variants = benchmark_models.operation_genotypes(published)
    assert list(variants) == ['HOGA without sep_conv_3x3', 'HOGA without dil_conv_3x3',
                              'HOGA without sep_conv_3x3_spatial', 'HOGA without CBAM',
                              'HOGA skeleton']
    assert str(variants['HOGA without CBAM']) == (
        'skip_connect:0 | sep_conv_3x3_spatial:0 sep_conv_3x3:1 | '
        'skip_connect:0 skip_connect:2 sep_conv_3x3:1 | '
        'sep_conv_3x3:0 skip_connect:1 sep_conv_3x3:3 dil_conv_3x3:2')
    assert {op for op, _ in variants['HOGA skeleton'].edges} == {'skip_connect'}
    assert [slot for _, slot in variants['HOGA skeleton'].edges] == [
        slot for _, slot in published.edges]


def test_with_genotype_sets_every_hoga_plugin_and_refuses_a_config_without_one():
    hoga = benchmark_models.network_config('resnet20', 'HOGA')
    skeleton = benchmark_models.operation_genotypes(
        benchmark_models.Genotype.build())['HOGA skeleton']
    changed = benchmark_models.with_genotype(hoga, skeleton)
    assert [p['cfg']['genotype'] for p in changed.model.backbone.plugins] == [str(skeleton)]
    assert 'genotype' not in hoga.model.backbone.plugins[0]['cfg']  # the original is untouched
    with pytest.raises(ValueError, match='no HOGA plugin'):
        benchmark_models.with_genotype(benchmark_models.network_config('resnet20', 'plain'),
                                       skeleton)


def test_operation_cost_table_gives_paired_medians_spreads_and_shares_of_what_hoga_adds():
    genotype = benchmark_models.Genotype.build()
    names = ['plain', 'HOGA', *benchmark_models.operation_genotypes(genotype)]
    flops = [100e6, 110e6, 107e6, 109.6e6, 109.7e6, 109.5e6, 106e6]
    candidates = [benchmark_models.Candidate('resnet20', name, 'compiled', None, 0, f, None)
                  for name, f in zip(names, flops)]
    # Three rounds; the second is 10 ms slower throughout, which differences cancel, and
    # in the third HOGA takes 4 ms more.
    seconds = [0.100, 0.300, 0.220, 0.290, 0.280, 0.294, 0.150]
    times = {i: [s, s + 0.010, s + (0.004 if names[i] == 'HOGA' else 0.0)]
             for i, s in enumerate(seconds)}
    lines = benchmark_models.operation_cost_table(candidates, times, genotype).splitlines()
    rows = {line.split()[0]: line.split() for line in lines[2:-1]}
    # HOGA minus HOGA without sep_conv_3x3: 80, 80 and 84 ms, whose inclusive
    # quartiles are 80 and 82.
    assert rows['sep_conv_3x3'] == ['sep_conv_3x3', '4', '80.0', '2.0', '40%', '3.0', '30%']
    assert rows['CBAM'] == ['CBAM', '1', '6.0', '2.0', '3%', '0.5', '5%']
    assert rows['skeleton'] == ['skeleton', '-', '50.0', '0.0', '25%', '6.0', '60%']
    assert rows['HOGA'] == ['HOGA', '10', '200.0', '2.0', '100%', '10.0', '100%']
    # 80 + 10 + 20 + 6 + 50 = 166 of 200 ms; the skeleton 1.5, 1.4545 and 1.5.
    assert lines[-1] == ('resnet20 HOGA skeleton (every edge skip_connect): 1.50x the plain '
                         'step; the parts sum to 83% of what HOGA adds')


def test_shares_of_nothing_are_not_divided():
    assert benchmark_models.share(0.02, 0.08) == '25%'
    assert benchmark_models.share(0.02, 0.0) == '-'
    assert benchmark_models.share(0.02, -0.01) == '-'


def test_one_round_has_no_interquartile_range():
    assert benchmark_models.interquartile_range([0.1]) is None
    assert benchmark_models.interquartile_range([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(2.0)


@pytest.mark.skipif(not compiled_ops_available('cpu'), reason='the compiled ops are not built')
def test_operation_costs_print_a_row_per_operation_the_skeleton_and_hoga(capsys):
    benchmark_models.main(['--networks', 'resnet20', '--paths', 'compiled', '--rounds', '1',
                           '--operation-costs'])
    out = capsys.readouterr().out.splitlines()
    start = out.index('part                   edges  ms/step  IQR ms  share   MFLOPs  share')
    rows = [line.split() for line in out[start + 1:-1]]
    assert [row[0] for row in rows] == ['sep_conv_3x3', 'dil_conv_3x3', 'sep_conv_3x3_spatial',
                                        'CBAM', 'skeleton', 'HOGA']
    assert [row[1] for row in rows] == ['4', '1', '1', '1', '-', '10']
    assert all(row[3] == '-' for row in rows)  # one round: no spread
    assert rows[-1][4] == '100%' and rows[-1][6] == '100%'
    assert re.fullmatch(r'resnet20 HOGA skeleton \(every edge skip_connect\): \d+\.\d\dx the plain '
                        r'step; the parts sum to -?\d+% of what HOGA adds', out[-1])
