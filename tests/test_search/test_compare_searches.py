"""``tools/analysis/compare_searches.py``: the stability of a search over seeds.

Three tiny searches (``tools/search.py --seed 0/1/2`` on synthetic CIFAR-format
data, one epoch each) are compared against the files they wrote; hand-made
work dirs check the numbers of the report exactly.
"""
import numpy as np
import pytest
import torch
from search_testkit import write_tiny_search_config
from tool_loading import load_tool

from autola_mm.models.attention import PRIMITIVES, Genotype
from autola_mm.models.search import derive_genotype

search_tool = load_tool('search')
compare_tool = load_tool('analysis/compare_searches')
SEEDS = (0, 1, 2)
PNG = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def seeded_searches(synthetic_cifar, tmp_path_factory):
    """The runners and work dirs of three one-epoch searches with seeds 0, 1 and 2."""
    root = tmp_path_factory.mktemp('seeds')
    config = write_tiny_search_config(root / 'tiny_search.py', synthetic_cifar, max_epochs=1)
    work_dirs = [root / f'seed{seed}' for seed in SEEDS]
    runners = [
        search_tool.main([str(config), '--work-dir', str(work_dir), '--seed', str(seed),
                          '--cfg-options', f'experiment_name=seed{seed}'])
        for seed, work_dir in zip(SEEDS, work_dirs)
    ]
    return runners, work_dirs


def test_the_seed_sets_the_randomness_of_the_search(seeded_searches):
    runners, work_dirs = seeded_searches
    assert [runner.seed for runner in runners] == list(SEEDS)
    initial = [np.load(work_dir / 'alphas.npy')[0] for work_dir in work_dirs]
    assert not np.array_equal(initial[0], initial[1])
    assert not np.array_equal(initial[1], initial[2])


def test_three_searches_are_compared_edge_by_edge(seeded_searches, tmp_path, capsys):
    _, work_dirs = seeded_searches
    figure = tmp_path / 'comparison.png'
    reports = compare_tool.main([*map(str, work_dirs), '--out', str(figure)])
    genotypes = [Genotype.from_json(work_dir / 'genotype.json') for work_dir in work_dirs]
    alphas = torch.stack([torch.from_numpy(np.load(work_dir / 'alphas.npy')[1])
                          for work_dir in work_dirs])
    assert [derive_genotype(alpha) for alpha in alphas] == genotypes
    weights = alphas.double().softmax(dim=-1).numpy()
    assert len(reports) == 10
    for edge, report in enumerate(reports):
        ops = [genotype.edges[edge][0] for genotype in genotypes]
        assert report['ops'] == ops
        assert report['agreement'] == ops.count(report['op']) / 3 == max(map(ops.count, ops)) / 3
        np.testing.assert_allclose(report['weights'],
                                   weights[:, edge, PRIMITIVES.index(report['op'])], rtol=1e-6)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == '3 searches: ' + ', '.join(map(str, work_dirs))
    unanimous = sum(report['agreement'] == 1 for report in reports)
    assert out[-2].startswith(f'all searches agree on {unanimous}/10 edges; mean agreement ')
    assert out[-1] == f'figure: {figure}' and figure.read_bytes()[:8] == PNG


def write_search(work_dir, alpha: torch.Tensor, epoch: int = 1) -> None:
    """A work dir as a search leaves it: ``alpha`` after ``epoch`` epochs."""
    history = torch.zeros(epoch + 1, *alpha.shape)
    history[epoch] = alpha
    work_dir.mkdir()
    np.save(work_dir / 'alphas.npy', history.numpy())
    derive_genotype(alpha).to_json(work_dir / 'genotype.json', meta=dict(epoch=epoch))


def test_agreement_and_spread_are_counted_exactly(tmp_path, capsys):
    se, cbam = PRIMITIVES.index('SE'), PRIMITIVES.index('CBAM')
    alphas = torch.zeros(3, 10, 9)
    alphas[:, :, se] = torch.tensor([2.0, 2.0, 1.0])[:, None]
    alphas[2, 0, cbam] = 3.0
    for i, alpha in enumerate(alphas):
        write_search(tmp_path / f's{i}', alpha)
    reports = compare_tool.main([str(tmp_path / f's{i}') for i in range(3)] +
                                ['--out', str(tmp_path / 'comparison.png')])
    e = np.exp(1.0)
    assert reports[0]['ops'] == ['SE', 'SE', 'CBAM'] and reports[0]['op'] == 'SE'
    assert reports[0]['agreement'] == pytest.approx(2 / 3)
    np.testing.assert_allclose(reports[0]['weights'],
                               [e**2 / (e**2 + 8), e**2 / (e**2 + 8), e / (e + e**3 + 7)])
    assert all(r['ops'] == ['SE'] * 3 and r['agreement'] == 1 for r in reports[1:])
    np.testing.assert_allclose(reports[1]['weights'],
                               [e**2 / (e**2 + 8), e**2 / (e**2 + 8), e / (e + 8)])
    out = capsys.readouterr().out
    row = 'g0->n1        0.67  SE                       0.351 ± 0.183 (0.091..0.480)  SE SE CBAM'
    assert row in out
    assert 'all searches agree on 9/10 edges; mean agreement 0.97' in out


def test_what_cannot_be_compared_is_a_clear_error(tmp_path):
    alpha = torch.zeros(10, 9)
    for name in ('a', 'b'):
        write_search(tmp_path / name, alpha)
    with pytest.raises(SystemExit):
        compare_tool.parse_args([str(tmp_path / 'a')])
    (tmp_path / 'a' / 'alphas.npy').unlink()
    with pytest.raises(FileNotFoundError, match=r'a/alphas.npy not found: a finished search'):
        compare_tool.main([str(tmp_path / 'a'), str(tmp_path / 'b')])
    np.save(tmp_path / 'a' / 'alphas.npy', np.zeros((2, 10, 9)) + np.eye(10, 9)[None])
    with pytest.raises(ValueError, match=r'a/genotype.json \(epoch 1\) is not what'):
        compare_tool.main([str(tmp_path / 'a'), str(tmp_path / 'b')])
