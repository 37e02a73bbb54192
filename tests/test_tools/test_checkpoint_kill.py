"""A run killed while a checkpoint is written loses that epoch and nothing else.

``tools/train.py`` trains a tiny CIFAR-10 ResNet-20 + HOGA (synthetic data
written here) for 2 epochs in a process of its own, keeping one checkpoint,
and is SIGKILLed halfway through writing the checkpoint of epoch 2; the same
command with ``--resume`` then trains epoch 2 again from ``epoch_1.pth``.
"""
import json
import subprocess
import sys

import pytest
import torch
from tools_testkit import (CONFIG_ROOT, REPO_ROOT, cifar_body, derived_config,
                           losses_by_step, subprocess_env, training_scalars, write_cifar10)

CIFAR_HOGA = CONFIG_ROOT / 'autola_cifar/resnet20-hoga_4xb64-cos500e_cifar10.py'


def train(config, work_dir, *options):
    """``tools/train.py CONFIG --work-dir WORK_DIR [options]`` in a process of its own."""
    return subprocess.run([sys.executable, 'tools/train.py', str(config), '--work-dir',
                           str(work_dir), *options], cwd=REPO_ROOT, env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)


def test_a_kill_while_saving_resumes_from_the_previous_checkpoint(tmp_path):
    root = write_cifar10(tmp_path / 'cifar10', num_train=8, num_test=4)
    # 2 iterations an epoch; one data worker re-seeded every epoch makes the
    # random crops and flips of epoch 2 the same after the restart. One
    # checkpoint kept: mmengine's own hook deletes epoch_1.pth before it
    # writes epoch_2.pth, which would leave nothing to resume from.
    body = cifar_body(root, train_images=8, batch_size=4, max_epochs=2).replace(
        'num_workers=0', 'num_workers=1').replace('max_keep_ckpts=-1',
                                                  'max_keep_ckpts=1, save_best=None')
    body += ("randomness = dict(seed=0, deterministic=True)\n"
             "log_processor = dict(type='LogProcessor', window_size=1, by_epoch=True)\n")
    config = derived_config(tmp_path, 'keep_one', CIFAR_HOGA, body)
    killed_config = derived_config(
        tmp_path, 'keep_one_killed', config,
        "custom_imports = dict(imports=['autola_mm', 'checkpoint_kill_testkit'], "
        "allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='KillWhileSavingCheckpointHook', epoch=2)]\n")
    work_dir = tmp_path / 'work'

    killed = train(killed_config, work_dir)
    assert killed.returncode == -9, killed.stdout[-3000:] + killed.stderr[-3000:]
    # Epoch 2 was trained; its checkpoint got half of its bytes, into a
    # temporary file beside epoch_1.pth, which is complete and still named.
    interrupted = losses_by_step(training_scalars(work_dir))
    assert sorted(interrupted) == [1, 2, 3, 4]
    [partial] = work_dir.glob('.epoch_2.pth.*.partial')
    assert partial.stat().st_size > 0
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['epoch_1.pth']
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'epoch_1.pth')
    assert torch.load(work_dir / 'epoch_1.pth', weights_only=True)['meta']['epoch'] == 1

    resumed = train(config, work_dir, '--resume')
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert 'resumed epoch: 1, iter: 2' in resumed.stdout
    # Epoch 2 trained again reproduces the losses of the interrupted epoch 2.
    _, second_run = sorted(work_dir.glob('*/vis_data/scalars.json'))
    again = losses_by_step([json.loads(line) for line in second_run.read_text().splitlines()])
    assert again == pytest.approx({3: interrupted[3], 4: interrupted[4]}, rel=1e-6)
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['epoch_2.pth']
    assert not list(work_dir.glob('.*.partial'))
    checkpoint = torch.load(work_dir / 'epoch_2.pth', weights_only=True)
    assert (checkpoint['meta']['epoch'], checkpoint['meta']['iter']) == (2, 4)
