"""Training on two nodes of one process each, both nodes on this machine.

Two ``tools/dist_train.sh`` start at once with ``NNODES=2``, ``NODE_RANK`` 0
and 1 and the same ``PORT``, as on two hosts of a cluster (gloo on the CPU).
They share the work dir, as nodes on a shared file system do.
"""
import re

import torch
from launch_testkit import check_exit_ok, free_port, run_together
from tools_testkit import (CONFIG_ROOT, REPO_ROOT, cifar_body, derived_config, subprocess_env,
                           write_cifar10)

CIFAR_HOGA = CONFIG_ROOT / 'autola_cifar/resnet20-hoga_4xb64-cos500e_cifar10.py'


def test_dist_train_on_two_nodes(tmp_path):
    root = write_cifar10(tmp_path / 'cifar10', num_train=8, num_test=4)
    # 8 images, 2 ranks x 2 images: 2 iterations; DEBUG gives each rank its log.
    body = cifar_body(root, train_images=8, batch_size=2, max_epochs=1)
    body += "log_level = 'DEBUG'\ndefault_hooks = dict(checkpoint=dict(save_best=None))\n"
    config = derived_config(tmp_path, 'tiny_hoga', CIFAR_HOGA, body)
    work_dir = tmp_path / 'work'
    port = str(free_port())
    command = ['bash', REPO_ROOT / 'tools' / 'dist_train.sh', config, 1, '--work-dir', work_dir]

    results = run_together([command, command], [
        dict(subprocess_env(), PORT=port, NNODES='2', NODE_RANK=str(node)) for node in range(2)
    ])

    for result in results:
        check_exit_ok(result)
    logs = {int(re.search(r'rank(\d+)$', log.stem).group(1)): log.read_text()
            for log in work_dir.glob('*/*.log')}
    assert sorted(logs) == [0, 1]
    for text in logs.values():
        assert 'Distributed launcher: pytorch' in text and 'GPU number: 2' in text
        assert re.search(r'Epoch\(train\) \[1\]\[2/2\].*loss: \d', text)
    assert re.search(r'Epoch\(val\) \[1\]\[1/1\].*accuracy/top1: \d', logs[0])
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['epoch_1.pth']
    checkpoint = torch.load(work_dir / 'epoch_1.pth', weights_only=False)
    assert (checkpoint['meta']['epoch'], checkpoint['meta']['iter']) == (1, 2)
