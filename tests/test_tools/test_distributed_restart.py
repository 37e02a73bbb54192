"""Workers that torchrun restarts resume from the last checkpoint by themselves.

``MAX_RESTARTS=1 tools/dist_train.sh``: one of two gloo workers is killed right
after the checkpoint of the first of two epochs; torchrun restarts both, they
rendezvous again (in a store namespace of their own attempt) and resume from
that checkpoint. Workers that cannot form their group again stop within
``AUTOLA_RESTART_TIMEOUT`` seconds with one message that names ``--resume``.
"""
import time

import pytest
import torch
import torch.distributed as torch_dist
from launch_testkit import check_exit_ok, free_port, run_together
from mmengine.config import Config
from tools_testkit import (CONFIG_ROOT, REPO_ROOT, cifar_body, derived_config, subprocess_env,
                           write_cifar10)

from autola_mm.utils import RestartRendezvousError, apply_resume, init_cpu_distributed
from autola_mm.utils.distributed import restart_timeout

CIFAR_HOGA = CONFIG_ROOT / 'autola_cifar/resnet20-hoga_4xb64-cos500e_cifar10.py'


def dist_train(config, work_dir, **env):
    """``tools/dist_train.sh CONFIG 2`` with extra environment variables."""
    command = ['bash', REPO_ROOT / 'tools' / 'dist_train.sh', config, 2, '--work-dir', work_dir]
    [result] = run_together([command], [dict(subprocess_env(), PORT=str(free_port()), **env)],
                            timeout=400)
    return result


def final_weights(work_dir):
    """The state dict of the checkpoint of the second (last) epoch."""
    return torch.load(work_dir / 'epoch_2.pth', map_location='cpu',
                      weights_only=False)['state_dict']


def test_killed_worker_restarts_and_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    root = write_cifar10(tmp_path / 'cifar10', num_train=8, num_test=2)
    # 8 images, 2 processes x 2 images: 2 iterations an epoch, 2 epochs. The
    # test pipeline (no random crops or flips) makes the batches reproducible.
    body = cifar_body(root, train_images=8, batch_size=2, max_epochs=2).replace(
        'pipeline=_base_.train_pipeline', 'pipeline=_base_.test_pipeline')
    body += ('randomness = dict(seed=0, deterministic=True)\n'
             'default_hooks = dict(checkpoint=dict(save_best=None))\n')
    config = derived_config(tmp_path, 'restart', CIFAR_HOGA, body)
    killed_config = derived_config(
        tmp_path, 'restart_killed', config,
        "custom_imports = dict(imports=['autola_mm', 'tools_testkit'], "
        'allow_failed_imports=False)\n'
        "custom_hooks = [dict(type='KillAfterCheckpointHook', epoch=1, rank=0)]\n")

    full = dist_train(config, tmp_path / 'full')
    check_exit_ok(full)
    restarted = dist_train(killed_config, tmp_path / 'run', MAX_RESTARTS='1')
    check_exit_ok(restarted)

    log = restarted.stdout
    assert 'exitcode: -9' in log  # rank 0 was killed once...
    assert log.count('TORCHELASTIC_RESTART_COUNT=1): resuming from the latest checkpoint') == 1
    assert 'resumed epoch: 1, iter: 2' in log  # ...and the restart went on from epoch 1
    expected, weights = final_weights(tmp_path / 'full'), final_weights(tmp_path / 'run')
    assert weights.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(weights[key], value, rtol=1e-6, atol=1e-7, msg=key)


@pytest.mark.skipif(torch.cuda.is_available(), reason='the gloo group is made on CPU machines')
def test_restarted_worker_alone_fails_in_time_naming_resume(monkeypatch):
    # torchrun's store with rank 0 of a restarted pair of workers, the other never comes.
    server = torch_dist.TCPStore('127.0.0.1', 0, is_master=True, wait_for_workers=False)
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(server.port))
    for name, value in dict(RANK='0', WORLD_SIZE='2', TORCHELASTIC_USE_AGENT_STORE='True',
                            TORCHELASTIC_RESTART_COUNT='1', AUTOLA_RESTART_TIMEOUT='2').items():
        monkeypatch.setenv(name, value)

    start = time.monotonic()
    with pytest.raises(RestartRendezvousError) as error:
        init_cpu_distributed('pytorch')
    assert time.monotonic() - start < 30
    message = str(error.value)
    assert 'TORCHELASTIC_RESTART_COUNT=1' in message
    assert 'within 2 s: 1 of 2 workers came back' in message
    assert 'relaunch it with --resume' in message and 'AUTOLA_RESTART_TIMEOUT' in message
    assert not torch_dist.is_initialized()


def test_restart_timeout_must_be_seconds(monkeypatch):
    monkeypatch.setenv('AUTOLA_RESTART_TIMEOUT', 'soon')
    with pytest.raises(ValueError, match="AUTOLA_RESTART_TIMEOUT='soon'"):
        restart_timeout()


@pytest.mark.parametrize('restarts,has_checkpoint,resume,expected', [
    ('0', True, None, (None, None)),  # a first attempt keeps the command line
    ('1', True, None, (True, None)),  # the latest checkpoint of the work dir
    ('1', False, None, (True, None)),  # none yet: mmengine starts from scratch
    ('1', True, 'given.pth', (True, None)),  # the work dir's is newer than --resume's
    ('1', False, 'given.pth', (True, 'given.pth')),  # none yet: --resume CKPT again
])
def test_restarted_worker_resumes_from_the_work_dir(monkeypatch, tmp_path, restarts,
                                                     has_checkpoint, resume, expected):
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', restarts)
    if has_checkpoint:
        (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    cfg = Config(dict(work_dir=str(tmp_path)))
    apply_resume(cfg, resume)
    assert (cfg.get('resume'), cfg.get('load_from')) == expected
