"""Short searches end to end: ``tools/search.py`` on synthetic CIFAR-format data.

The data is written by the test in the ``cifar-10-batches-py`` pickle layout;
the config is the real search config with a 1-block-per-stage, 8-wide
ResNet supernet on 8x8 crops, 8 images per batch and 2 epochs of 2 steps.
"""
import json
import signal
import subprocess
import time

import numpy as np
import pytest
import torch
from mmengine.registry import MODELS
from search_testkit import search_command, subprocess_env, write_tiny_search_config
from tool_loading import load_tool

from autola_mm.models.attention import Genotype
from autola_mm.models.search import derive_genotype


search_tool = load_tool('search')


def run_search(config, work_dir, name, *options, cfg_options=()):
    """``tools/search.py CONFIG --work-dir WORK_DIR [options]``; returns the runner."""
    return search_tool.main([str(config), '--work-dir', str(work_dir), *options,
                             '--cfg-options', f'experiment_name={name}', *cfg_options])


@pytest.fixture(scope='module')
def searched(synthetic_cifar, tmp_path_factory):
    """An uninterrupted 2-epoch search: (runner, config path, work dir)."""
    root = tmp_path_factory.mktemp('search')
    config = write_tiny_search_config(root / 'tiny_search.py', synthetic_cifar)
    runner = run_search(config, root / 'run', 'uninterrupted')
    return runner, config, root / 'run'


def test_a_short_search_moves_alpha_and_writes_the_genotype(searched):
    runner, _, work_dir = searched
    model = runner.model
    assert (runner.epoch, runner.iter) == (2, 4)  # 16 + 16 images, 8 per batch, 2 epochs
    history = np.load(work_dir / 'alphas.npy')
    assert history.shape == (3, 10, 9)
    np.testing.assert_array_equal(history[-1], model.alpha.detach().numpy())
    # Four Adam steps of lr 3e-3 move alpha well beyond its 1e-3 initial scale.
    assert np.abs(history[-1] - history[0]).max() > 6e-3
    assert all(np.abs(history[i + 1] - history[i]).max() > 1e-3 for i in range(2))

    genotype = Genotype.from_json(work_dir / 'genotype.json')
    assert genotype == model.genotype()
    content = json.loads((work_dir / 'genotype.json').read_text())
    assert content['meta']['epoch'] == 2
    np.testing.assert_allclose(content['meta']['alpha'], history[-1], rtol=1e-6)

    checkpoint = torch.load(work_dir / 'epoch_1.pth', weights_only=True)
    torch.testing.assert_close(checkpoint['alpha_history'], torch.from_numpy(history[:2]))
    assert Genotype.parse(checkpoint['meta']['genotype']) == derive_genotype(
        torch.from_numpy(history[1]))
    for figure in ('genotype.png', 'alpha_history.png'):
        assert (work_dir / figure).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    [log] = work_dir.glob('*/*.log')
    assert log.read_text().count(' genotype: ') == 2


def test_the_searched_genotype_builds_a_hoga(searched):
    _, _, work_dir = searched
    hoga = MODELS.build(dict(type='HOGA', in_channels=16, genotype=str(work_dir / 'genotype.json')))
    assert hoga.genotype == Genotype.from_json(work_dir / 'genotype.json')
    assert hoga(torch.randn(2, 16, 4, 4)).shape == (2, 16, 4, 4)


def test_a_genotype_file_of_another_search_space_is_refused(searched, tmp_path):
    _, _, work_dir = searched
    content = json.loads((work_dir / 'genotype.json').read_text())
    content['search_space']['primitives'][-1] = 'ECA'
    foreign = tmp_path / 'foreign_genotype.json'
    foreign.write_text(json.dumps(content))
    with pytest.raises(ValueError, match='comes from another search space'):
        MODELS.build(dict(type='HOGA', in_channels=16, genotype=str(foreign)))


def wait_for(path, proc, log, timeout: float = 240) -> None:
    """Wait until ``path`` exists while ``proc`` runs."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f'the search exited ({proc.returncode}) before its checkpoint:\n'
                        f'{log.read_text()[-3000:]}')
        if time.monotonic() > deadline:
            pytest.fail(f'no checkpoint within {timeout} s:\n{log.read_text()[-3000:]}')
        time.sleep(0.2)


def test_a_search_killed_after_a_checkpoint_resumes_to_the_uninterrupted_result(
        searched, tmp_path):
    """``tools/search.py`` in a process of its own, SIGKILLed while it waits after the
    checkpoint of epoch 1, then run again with ``--resume``."""
    uninterrupted, config, uninterrupted_dir = searched
    work_dir, marker, log = tmp_path / 'run', tmp_path / 'waiting', tmp_path / 'search.log'
    killable = tmp_path / 'killable_search.py'
    killable.write_text(f"""
_base_ = ['{config}']
custom_imports = dict(imports=['autola_mm', 'search_testkit'], allow_failed_imports=False)
custom_hooks = [dict(type='GenotypeHook'), dict(type='AlphaHistoryHook'),
                dict(type='WaitForKillAfterCheckpointHook', epoch=1, marker='{marker}',
                     priority='LOWEST')]
""")
    with open(log, 'w') as out:
        proc = subprocess.Popen(search_command(killable, work_dir), env=subprocess_env(),
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(marker, proc, log)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert (work_dir / 'epoch_1.pth').is_file() and not (work_dir / 'epoch_2.pth').exists()
    assert json.loads((work_dir / 'genotype.json').read_text())['meta']['epoch'] == 1

    resumed = subprocess.run(search_command(killable, work_dir, '--resume'),
                             env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert 'resumed epoch: 1, iter: 2' in resumed.stdout + resumed.stderr
    checkpoint = torch.load(work_dir / 'epoch_2.pth', weights_only=True)
    assert (checkpoint['meta']['epoch'], checkpoint['meta']['iter']) == (2, 4)
    theirs = uninterrupted.model.state_dict()
    ours = checkpoint['state_dict']
    assert sorted(ours) == sorted(theirs)
    assert torch.equal(ours['alpha'], theirs['alpha'])
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    np.testing.assert_array_equal(np.load(work_dir / 'alphas.npy'),
                                  np.load(uninterrupted_dir / 'alphas.npy'))
    assert Genotype.from_json(work_dir / 'genotype.json') == uninterrupted.model.genotype()


def test_an_empty_architecture_split_is_a_clear_error(searched, tmp_path):
    _, config, _ = searched
    with pytest.raises(ValueError, match=r'architecture \(validation\) split empty'):
        run_search(config, tmp_path / 'run', 'empty_split',
                   cfg_options=['train_cfg.train_portion=1.0'])
