"""`make demo` at a reduced size: the same tools and configs, a few iterations."""
import re

import pytest
import torch
from tool_loading import load_tool

from autola_mm.models.attention import HOGA, Genotype


def load_demo():
    return load_tool('demo')


@pytest.fixture(scope='module')
def quick_demo(tmp_path_factory):
    """One demo run: 64 images per split, one search epoch, one training epoch."""
    pytest.importorskip('sklearn', reason='the demo reads scikit-learn\'s digits')
    work_dir = tmp_path_factory.mktemp('demo')
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('OMP_NUM_THREADS', '1')
        report = load_demo().main(['--work-dir', str(work_dir), '--max-images', '64',
                                   '--epochs', '1', '--search-epochs', '1'])
    return work_dir, report


def table_rows(report_text: str) -> list:
    return [line.split(' | ') for line in report_text.splitlines()
            if line.startswith('| ') and not line.startswith(('| model', '| ---'))]


def test_the_report_has_a_row_per_model(quick_demo):
    work_dir, report = quick_demo
    rows = table_rows(report.read_text())
    assert [row[0] for row in rows] == [f'| {label}' for label, _, _ in load_demo().MODELS]
    params = {row[0][2:]: int(row[2].replace(',', '')) for row in rows}
    assert params['+ SE'] > params['ResNet-20']
    assert params['+ HOGA (published)'] > params['+ SE']
    for row in rows:
        assert 0 <= float(row[1]) <= 100
        assert float(row[3].rstrip('M')) > 0
        assert float(row[4].rstrip(' |')) > 0
    assert re.search(r'`make demo` on \d{4}-\d\d-\d\d, [\d.]+ min on .+ cores', report.read_text())


def test_the_searched_genotype_builds_the_hoga_that_was_trained(quick_demo):
    work_dir, report = quick_demo
    genotype_file = work_dir / 'search' / 'genotype.json'
    genotype = Genotype.from_json(genotype_file)
    nodes = re.findall(r'^\d\. (.+)$', report.read_text(), re.MULTILINE)
    assert Genotype.parse(' | '.join(nodes)) == genotype
    hoga = HOGA(16, genotype=str(genotype_file))
    assert hoga(torch.randn(2, 16, 4, 4)).shape == (2, 16, 4, 4)
    checkpoint = next((work_dir / 'resnet20-hoga-searched_digits').glob('epoch_*.pth'))
    state = torch.load(checkpoint, map_location='cpu')['state_dict']
    first_cell = {key.split('hoga.', 1)[1]: value for key, value in state.items()
                  if key.startswith('backbone.layer1.0.') and 'hoga.' in key}
    hoga.load_state_dict(first_cell)


def test_the_figures_are_written_and_linked(quick_demo):
    work_dir, report = quick_demo
    pngs = sorted(p.relative_to(work_dir).as_posix() for p in work_dir.rglob('figures/**/*.png'))
    assert 'figures/selectivity/class_selectivity.png' in pngs
    assert 'figures/grad_cam/grad_cam.png' in pngs
    assert sum(p.startswith('figures/tsne/') for p in pngs) == 5
    pngs += ['search/alpha_history.png', 'search/genotype.png']
    for png in pngs:
        assert f'[{png}]({png})' in report.read_text()


def test_the_table_goes_into_the_readme_block(quick_demo, tmp_path):
    work_dir, report = quick_demo
    demo = load_demo()
    readme = tmp_path / 'README.md'
    readme.write_text(f'# title\n\n{demo.README_START}\nold table\n{demo.README_END}\nmore\n')
    demo.main(['--work-dir', str(work_dir), '--to-readme', str(readme)])
    text = readme.read_text()
    assert 'old table' not in text and text.endswith(f'{demo.README_END}\nmore\n')
    assert len(table_rows(text)) == 5
    readme.write_text('# no block\n')
    with pytest.raises(SystemExit, match='has no demo block'):
        demo.main(['--work-dir', str(work_dir), '--to-readme', str(readme)])


def test_bad_sizes_and_repeated_seeds_are_refused():
    with pytest.raises(SystemExit):
        load_demo().parse_args(['--epochs', '0'])
    with pytest.raises(SystemExit):
        load_demo().parse_args(['--seeds', '0', '1', '0'])


def test_each_seed_trains_in_its_own_folder(tmp_path):
    demo = load_demo()
    assert demo.configs_seed() == 0
    assert demo.run_dir(tmp_path, 'resnet20-se_digits.py', 0) == tmp_path / 'resnet20-se_digits'
    assert demo.run_dir(tmp_path, 'resnet20-se_digits.py', 2) == (
        tmp_path / 'resnet20-se_digits-seed2')


def test_several_seeds_give_mean_sd_and_every_value():
    rows = [dict(label='ResNet-20', top1=[99.44, 98.89, 99.17], params=272474, flops=41.3e6,
                 speed=369.4),
            dict(label='+ SE', top1=[98.61, 98.61, 98.61], params=274490, flops=41.5e6,
                 speed=349)]
    table = load_demo().report_table(rows, [0, 1, 2])
    assert table == [
        '| model | top-1 (%), mean ± sd | seeds 0, 1, 2 | parameters | FLOPs | train images/s |',
        '| --- | --- | --- | --- | --- | --- |',
        '| ResNet-20 | 99.17 ± 0.28 | 99.44, 98.89, 99.17 | 272,474 | 41.3M | 369 |',
        '| + SE | 98.61 ± 0.00 | 98.61, 98.61, 98.61 | 274,490 | 41.5M | 349 |']
    single = load_demo().report_table([dict(rows[0], top1=[99.44])], [0])
    assert single[2] == '| ResNet-20 | 99.44 | 272,474 | 41.3M | 369 |'
