"""The AutoLA search in two processes (gloo on the CPU) against one process.

A bi-level step of the search averages the architecture and the weight
gradients over the processes (``HOGASearchClassifier.train_step``, wrapped
by ``SearchDistributedDataParallel`` as the search config asks). Here two
spawned processes take one step of a tiny float64 supernet, each on its own
batches, and the gradients their optimizers apply are compared with the
mean of the gradients one process computes on each rank's batches. Then
``tools/dist_search.sh`` runs a short search in two processes and on two
nodes of this machine.
"""
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from launch_testkit import check_exit_ok, free_port, run_together
from mmengine.config import Config
from mmengine.registry import MODEL_WRAPPERS
from search_testkit import (REPO_ROOT, SEARCH_CONFIG, labelled_batch, subprocess_env,
                            tiny_search_model, write_tiny_search_config)

from autola_mm.engine import SearchOptimWrapperConstructor
from autola_mm.models.attention import Genotype
from autola_mm.models.search import VirtualStep, derive_genotype, unrolled_architecture_grad
from autola_mm.utils import init_cpu_distributed, use_cpu_model_wrapper

WORLD_SIZE = 2
# Plain SGD for both groups: the applied step is then ``-lr * grad``.
ARCH_LR, WEIGHT_LR = 0.5, 0.1
NUM_CLASSES = 3
SPAWN_TIMEOUT = 300


def rank_batches(rank: int) -> dict:
    """The step's batches of ``rank``: ``dict(train=..., val=...)``, 4 images each."""
    torch.manual_seed(100 + rank)
    return dict(train=labelled_batch(4, NUM_CLASSES, dtype=torch.float64),
                val=labelled_batch(4, NUM_CLASSES, dtype=torch.float64))


def build_search_model(seed: int, unrolled: bool):
    """The tiny float64 supernet; ``alpha`` spread enough to give distinct gradients."""
    torch.manual_seed(seed)
    return tiny_search_model(num_classes=NUM_CLASSES, alpha_std=0.5,
                             unrolled=unrolled).double().train()


def search_step_of_rank(rank: int, port: int, folder: Path) -> None:
    """One search step in process ``rank``, first-order and unrolled.

    The process joins the gloo group as ``tools/search.py --launcher pytorch``
    does and wraps the model as the search config asks. Its model starts from
    its own random values: wrapping must hand it rank 0's. Writes
    ``initial_<mode>.pt`` (rank 0, before the wrap) and
    ``rank<rank>_<mode>.pt``: the gradients each optimizer applied and the
    parameters after the step, by parameter name.
    """
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD_SIZE))
    torch.set_num_threads(1)
    assert init_cpu_distributed('pytorch'), 'the tools did not create the gloo group'
    try:
        cfg = Config.fromfile(SEARCH_CONFIG)
        use_cpu_model_wrapper(cfg)
        for mode, unrolled in (('first_order', False), ('unrolled', True)):
            model = build_search_model(seed=rank, unrolled=unrolled)
            if rank == 0:
                torch.save(model.state_dict(), folder / f'initial_{mode}.pt')
            wrapped = MODEL_WRAPPERS.build(dict(cfg.model_wrapper_cfg, module=model))
            optim_wrapper = SearchOptimWrapperConstructor(dict(
                architecture=dict(optimizer=dict(type='SGD', lr=ARCH_LR)),
                weights=dict(optimizer=dict(type='SGD', lr=WEIGHT_LR))))(wrapped)
            names = {id(p): name for name, p in model.named_parameters()}
            applied = {}

            def record_grads(optimizer, args, kwargs):
                for group in optimizer.param_groups:
                    applied.update({names[id(p)]: p.grad.clone() for p in group['params']})

            for wrapper in optim_wrapper.values():
                wrapper.optimizer.register_step_pre_hook(record_grads)
            wrapped.train_step(rank_batches(rank), optim_wrapper)
            torch.save(dict(applied=applied,
                            final={n: p.detach() for n, p in model.named_parameters()}),
                       folder / f'rank{rank}_{mode}.pt')
    finally:
        torch_dist.destroy_process_group()


def spawn_search_steps(folder: Path) -> None:
    """Run :func:`search_step_of_rank` in two spawned processes; fail after
    ``SPAWN_TIMEOUT`` seconds rather than hang."""
    context = mp.start_processes(search_step_of_rank, args=(free_port(), folder),
                                 nprocs=WORLD_SIZE, join=False, start_method='spawn')
    deadline = time.monotonic() + SPAWN_TIMEOUT
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f'the two search processes did not finish in {SPAWN_TIMEOUT} s')


def labels(batch: dict) -> torch.Tensor:
    """The ``gt_label`` of every data sample of ``batch``."""
    return torch.cat([s.gt_label for s in batch['data_samples']])


def loss_on(model, batch: dict, mixing_weights=None) -> torch.Tensor:
    """The cross entropy of ``batch`` at the model's current values."""
    return F.cross_entropy(model.logits(batch['inputs'], mixing_weights), labels(batch))


def architecture_grad(model, batches: dict, unrolled: bool) -> torch.Tensor:
    """``d L_val / d alpha`` on one rank's batches: first-order or DARTS' unrolled."""
    if not unrolled:
        return torch.autograd.grad(loss_on(model, batches['val']), model.alpha)[0]
    weights = model.parameter_groups()['weights']
    plain_sgd = VirtualStep(lr=[WEIGHT_LR] * len(weights), momentum=[0.0] * len(weights),
                            weight_decay=[0.0] * len(weights),
                            momentum_buffers=[None] * len(weights))
    return unrolled_architecture_grad(model.alpha, weights,
                                      lambda: loss_on(model, batches['train']),
                                      lambda: loss_on(model, batches['val']), plain_sgd,
                                      model.hessian_radius)


def mean(values):
    """The mean of the tensors ``values``."""
    return sum(values) / len(values)


def one_process_gradients(initial: dict, unrolled: bool):
    """The gradients of the two processes' step, computed in this one process
    from rank 0's initial values, each rank's batches in turn.

    Returns:
        tuple[list[dict], dict]: Each rank's gradients by parameter name,
        and their mean. The architecture gradients are taken at the initial
        values; the weight gradients after the architecture step with the
        mean architecture gradient, as the search's weight step sees the new
        ``alpha``.
    """
    model = build_search_model(seed=0, unrolled=unrolled)
    model.load_state_dict(initial)
    batches = [rank_batches(rank) for rank in range(WORLD_SIZE)]
    per_rank = [dict(alpha=architecture_grad(model, b, unrolled)) for b in batches]
    alpha_grad = mean([grads['alpha'] for grads in per_rank])
    with torch.no_grad():
        model.alpha -= ARCH_LR * alpha_grad
    mixing_weights = model.alpha.detach().softmax(dim=-1)
    names = [name for name, _ in model.named_parameters() if name != 'alpha']
    for grads, b in zip(per_rank, batches):
        grads.update(zip(names, torch.autograd.grad(loss_on(model, b['train'], mixing_weights),
                                                    model.parameter_groups()['weights'])))
    return per_rank, {name: mean([grads[name] for grads in per_rank]) for name in per_rank[0]}


@pytest.fixture(scope='module')
def two_process_steps(tmp_path_factory) -> Path:
    """The folder with the files :func:`search_step_of_rank` wrote."""
    folder = tmp_path_factory.mktemp('ddp_search_step')
    spawn_search_steps(folder)
    return folder


@pytest.mark.parametrize('mode', ['first_order', 'unrolled'])
def test_each_rank_applies_the_mean_of_the_one_process_gradients(two_process_steps, mode):
    initial = torch.load(two_process_steps / f'initial_{mode}.pt', weights_only=True)
    per_rank, expected = one_process_gradients(initial, unrolled=mode == 'unrolled')
    # The ranks' batches differ, so do their gradients: the mean is neither one's.
    assert not torch.allclose(per_rank[0]['alpha'], per_rank[1]['alpha'], rtol=0.1)
    results = [torch.load(two_process_steps / f'rank{rank}_{mode}.pt', weights_only=True)
               for rank in range(WORLD_SIZE)]
    for rank, result in enumerate(results):
        assert sorted(result['applied']) == sorted(expected)
        for name, grad in expected.items():
            torch.testing.assert_close(result['applied'][name], grad, rtol=1e-9, atol=1e-12,
                                       msg=f'rank {rank}, {mode}: gradient of {name}')
            lr = ARCH_LR if name == 'alpha' else WEIGHT_LR
            torch.testing.assert_close(result['final'][name], initial[name] - lr * grad,
                                       rtol=1e-9, atol=1e-12,
                                       msg=f'rank {rank}, {mode}: {name} after the step')
    for name, value in results[0]['final'].items():
        assert torch.equal(value, results[1]['final'][name]), f'the ranks disagree on {name}'


def dist_search_env(port: int, **variables: str) -> dict:
    """Environment of ``tools/dist_search.sh``: this interpreter, rendezvous ``port``."""
    return dict(subprocess_env(), PYTHON=sys.executable, PORT=str(port), **variables)


def dist_search_command(config: Path, processes: int, work_dir: Path) -> list:
    """``tools/dist_search.sh`` with batches of 4, i.e. two pairs of batches
    per process when two share the 16 + 16 images; DEBUG gives every rank its
    own log file."""
    return ['bash', REPO_ROOT / 'tools' / 'dist_search.sh', config, processes,
            '--work-dir', work_dir, '--cfg-options', 'train_dataloader.batch_size=4',
            'log_level=DEBUG']


def check_one_genotype_of_the_search(work_dir: Path) -> None:
    """``work_dir`` holds one ``genotype.json``: the genotype of the final alpha."""
    assert list(work_dir.rglob('genotype.json')) == [work_dir / 'genotype.json']
    alpha = torch.load(work_dir / 'epoch_1.pth', weights_only=False)['state_dict']['alpha']
    written = json.loads((work_dir / 'genotype.json').read_text())
    assert written['meta']['epoch'] == 1
    torch.testing.assert_close(torch.tensor(written['meta']['alpha']), alpha)
    assert Genotype.from_json(work_dir / 'genotype.json') == derive_genotype(alpha)


def rank_logs(work_dirs) -> dict:
    """The text of every rank's log in ``work_dirs``, by rank."""
    return {int(re.search(r'rank(\d+)$', log.stem).group(1)): log.read_text()
            for work_dir in work_dirs for log in work_dir.glob('*/*.log')}


def check_two_ranks_searched(logs: dict) -> None:
    """Ranks 0 and 1 each wrapped the model for the bi-level step on the CPU,
    took the epoch's two steps and derived the same genotype."""
    assert sorted(logs) == [0, 1]
    for text in logs.values():
        assert 'GPU number: 2' in text
        assert "type='SearchDistributedDataParallel'" in text and 'device_ids=None' in text
        assert re.search(r'Epoch\(train\) \[1\]\[2/2\].*loss: \d', text)
    genotypes = [re.findall(r'Epoch 1 genotype: (.*)', text) for text in logs.values()]
    assert len(genotypes[0]) == 1 and genotypes[0] == genotypes[1]


@pytest.fixture
def one_epoch_config(synthetic_cifar, tmp_path) -> Path:
    """The tiny search config, one epoch."""
    return write_tiny_search_config(tmp_path / 'tiny_search.py', synthetic_cifar, max_epochs=1)


def test_dist_search_in_two_processes_writes_one_genotype(one_epoch_config, tmp_path):
    """``tools/dist_search.sh CONFIG 2``: both ranks search, rank 0 writes."""
    work_dir = tmp_path / 'work'
    [result] = run_together([dist_search_command(one_epoch_config, 2, work_dir)],
                            [dist_search_env(free_port())])
    check_exit_ok(result)
    check_one_genotype_of_the_search(work_dir)
    check_two_ranks_searched(rank_logs([work_dir]))


def test_dist_search_on_two_nodes(one_epoch_config, tmp_path):
    """Two ``dist_search.sh`` of one process each, ``NODE_RANK`` 0 and 1, each
    with its own work dir (nodes that share no file system): node 0 writes the
    checkpoint and the genotype, node 1 only its log."""
    port = free_port()
    work_dirs = [tmp_path / f'node{rank}' for rank in range(2)]
    results = run_together(
        [dist_search_command(one_epoch_config, 1, work_dir) for work_dir in work_dirs],
        [dist_search_env(port, NNODES='2', NODE_RANK=str(rank)) for rank in range(2)])
    for result in results:
        check_exit_ok(result)
    check_one_genotype_of_the_search(work_dirs[0])
    [node1_file] = [path for path in work_dirs[1].rglob('*') if path.is_file()]
    assert node1_file.name.endswith('_rank1.log')
    logs = rank_logs(work_dirs)
    check_two_ranks_searched(logs)
    assert 'Genotype written to' in logs[0] and 'Genotype written to' not in logs[1]
