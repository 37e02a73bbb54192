"""Multi-process CPU training (gloo) and resuming a killed run.

Both start the tools as separate processes, exactly as a user would: a tiny
CIFAR-10 ResNet-20 + HOGA config (synthetic data written here) trains for a
few iterations.
"""
import re
import subprocess
import sys

import pytest
from launch_testkit import free_port
from tool_loading import load_tool
from tools_testkit import (CONFIG_ROOT, REPO_ROOT, cifar_body, derived_config,
                           losses_by_step, subprocess_env, training_scalars, write_cifar10)

CIFAR_HOGA = CONFIG_ROOT / 'autola_cifar/resnet20-hoga_4xb64-cos500e_cifar10.py'


def run(command, env):
    """Run a tool from the repository root; the result with its output."""
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=500)


def check_ok(result):
    """The tool exited 0; otherwise fail with the end of its output."""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def top1_values(text: str):
    """The top-1 accuracies a log reports."""
    return [float(v) for v in re.findall(r'accuracy/top1: (\d+\.\d+)', text)]


def test_dist_train_two_cpu_processes_then_evaluate(tmp_path):
    root = write_cifar10(tmp_path / 'cifar10', num_train=16, num_test=8)
    # 16 images, 2 processes x 2 images: 4 iterations; DEBUG makes every rank
    # write its own log file.
    body = cifar_body(root, train_images=16, batch_size=2, max_epochs=1)
    body += "log_level = 'DEBUG'\ndefault_hooks = dict(checkpoint=dict(save_best=None))\n"
    config = derived_config(tmp_path, 'tiny_hoga', CIFAR_HOGA, body)
    work_dir = tmp_path / 'work'
    env = dict(subprocess_env(), PORT=str(free_port()))

    check_ok(run(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', work_dir], env))

    logs = sorted(work_dir.glob('*/*.log'))
    assert [re.search(r'rank\d$', log.stem).group() for log in logs] == ['rank0', 'rank1']
    for log in logs:
        text = log.read_text()
        assert 'Distributed launcher: pytorch' in text and 'GPU number: 2' in text
        assert "type='MMDistributedDataParallel'" in text and 'device_ids=None' in text
        assert re.search(r'Epoch\(train\) \[1\]\[4/4\].*loss: \d', text)
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['epoch_1.pth']
    [val_top1] = top1_values(logs[0].read_text())

    # The checkpoint evaluated by two processes and by one: the accuracy the
    # training run measured on the same 8 test images.
    env['PORT'] = str(free_port())
    result = run(['bash', 'tools/dist_test.sh', config, work_dir / 'epoch_1.pth', '2',
                  '--work-dir', tmp_path / 'eval'], env)
    check_ok(result)
    assert top1_values(result.stdout) == [val_top1]
    metrics = load_tool('test').main([
        str(config), str(work_dir / 'epoch_1.pth'), '--work-dir', str(tmp_path / 'eval1'),
        '--show-dir', str(tmp_path / 'drawn')
    ])
    assert metrics['accuracy/top1'] == pytest.approx(val_top1)
    assert len(list((tmp_path / 'drawn').glob('*.png'))) == 8  # one per test image


def test_killed_training_resumes_with_the_losses_of_an_uninterrupted_run(tmp_path):
    root = write_cifar10(tmp_path / 'cifar10', num_train=8, num_test=4)
    # 2 iterations an epoch, 3 epochs; one data worker re-seeded every epoch
    # makes the random crops and flips reproducible after a restart.
    body = cifar_body(root, train_images=8, batch_size=4, max_epochs=3).replace(
        'num_workers=0', 'num_workers=1')
    body += ("randomness = dict(seed=0, deterministic=True)\n"
             "log_processor = dict(type='LogProcessor', window_size=1, by_epoch=True)\n")
    config = derived_config(tmp_path, 'resume', CIFAR_HOGA, body)
    killed_config = derived_config(
        tmp_path, 'resume_killed', config,
        "custom_imports = dict(imports=['autola_mm', 'tools_testkit'], "
        "allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='KillAfterCheckpointHook', epoch=1)]\n")
    env = subprocess_env()
    train = [sys.executable, 'tools/train.py']

    check_ok(run([*train, config, '--work-dir', tmp_path / 'full'], env))
    full = losses_by_step(training_scalars(tmp_path / 'full'))
    assert sorted(full) == [1, 2, 3, 4, 5, 6]

    killed = run([*train, killed_config, '--work-dir', tmp_path / 'run'], env)
    assert killed.returncode == -9, killed.stderr[-4000:]
    assert sorted(p.name for p in (tmp_path / 'run').glob('*.pth')) == ['epoch_1.pth']
    first = losses_by_step(training_scalars(tmp_path / 'run'))
    assert sorted(first) == [1, 2]

    resumed = run([*train, config, '--work-dir', tmp_path / 'run', '--resume'], env)
    check_ok(resumed)
    assert 'resumed epoch: 1, iter: 2' in resumed.stdout
    both = training_scalars(tmp_path / 'run')
    second = {step: loss for step, loss in losses_by_step(both).items() if step not in first}
    assert sorted(second) == [3, 4, 5, 6]
    assert {**first, **second} == pytest.approx(full, rel=1e-6)
    assert len(set(full.values())) == 6  # the losses do change from step to step
