"""AutoLASearchLoop: a resumed search draws the augmentations of one never stopped,
in data-loading workers too."""
import types

import numpy as np
import pytest
import torch
from mmengine.runner import Runner
from torch.utils.data import Dataset

from autola_mm.engine import AutoLASearchLoop


class DrawingDataset(Dataset):
    """Each sample an augmentation's draw: NumPy's generator, as RandomCrop and RandomFlip."""

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return index, int(np.random.randint(1 << 30))


def search_loop(**dataloader):
    """A loop over DrawingDataset, and the (train, val) batches its model is handed."""
    seen = []
    model = types.SimpleNamespace(
        train=lambda: None,
        train_step=lambda data, optim_wrapper: seen.append((data['train'], data['val'])) or {})
    runner = types.SimpleNamespace(build_dataloader=Runner.build_dataloader, seed=0,
                                   _randomness_cfg={}, call_hook=lambda *args, **kwargs: None,
                                   model=model, optim_wrapper=None)
    cfg = dict(dict(batch_size=2, num_workers=2, persistent_workers=False,
                    sampler=dict(type='DefaultSampler', shuffle=True),
                    dataset=DrawingDataset()), **dataloader)
    return AutoLASearchLoop(runner, cfg, max_epochs=2), seen


@pytest.mark.parametrize('workers', [0, 2])
def test_a_resumed_epoch_draws_what_an_uninterrupted_one_drew(workers):
    torch.set_num_threads(1)
    loop, seen = search_loop(num_workers=workers)
    loop.run_epoch()
    first = list(seen)
    loop.run_epoch()
    second = seen[len(first):]
    resumed, seen_resumed = search_loop(num_workers=workers)
    resumed._epoch = 1  # what resuming from the first epoch's checkpoint restores
    resumed.run_epoch()
    assert seen_resumed == second
    draws = [[int(d) for batch in batches for half in batch for d in half[1]]
             for batches in (first, second)]
    assert draws[0] != draws[1]  # and epochs differ


@pytest.mark.parametrize('option, message', [
    (dict(persistent_workers=True), 'set persistent_workers=False in train_dataloader'),
    (dict(worker_init_fn=dict(type=print)), 'remove worker_init_fn from train_dataloader'),
])
def test_worker_options_that_would_break_it_are_refused(option, message):
    with pytest.raises(ValueError, match=message):
        search_loop(**option)


def test_workers_of_different_processes_draw_apart():
    from autola_mm.engine.search_loop import seed_worker_from_torch
    draws = []
    for rank in (0, 1, 0):
        torch.manual_seed(7)  # what torch gives a worker, the same on every process
        seed_worker_from_torch(0, rank=rank)
        draws.append(int(np.random.randint(1 << 30)))
    assert draws[0] == draws[2] != draws[1]
