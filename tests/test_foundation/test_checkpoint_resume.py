"""Checkpoints written by mmengine's Runner resume under torch's weights-only load."""
import pickle

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

import autola_mm  # noqa: F401  (registers the checkpoint globals)


class _LinearRegressor(BaseModel):
    """y = w . x + b, with the loss interface of an mmengine model."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, targets, mode='loss'):
        prediction = self.fc(torch.stack(inputs)).squeeze(-1)
        return dict(loss=((prediction - torch.stack(targets))**2).mean())


class _LineDataset(torch.utils.data.Dataset):

    def __len__(self):
        return 16

    def __getitem__(self, index):
        return dict(inputs=torch.tensor([index / 16., 1.]),
                    targets=torch.tensor(index / 8.))


def _runner(work_dir, max_iters, resume=False):
    return Runner(
        model=_LinearRegressor(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_LineDataset(),
            batch_size=4,
            sampler=dict(type='DefaultSampler', shuffle=True)),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        param_scheduler=dict(
            type='MultiStepLR', milestones=[2], by_epoch=False),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        randomness=dict(seed=0),
        resume=resume)


def test_resume_restores_iteration_and_optimizer(tmp_path):
    first = _runner(tmp_path, max_iters=4)
    first.train()
    saved_optimizer = first.optim_wrapper.state_dict()['state']

    resumed = _runner(tmp_path, max_iters=4, resume=True)
    resumed.train()  # resumes from iter_4.pth and has nothing left to run

    assert resumed.iter == 4
    restored = resumed.optim_wrapper.state_dict()['state']
    assert restored.keys() == saved_optimizer.keys()
    for index, state in saved_optimizer.items():
        assert torch.equal(restored[index]['momentum_buffer'],
                           state['momentum_buffer'])
    assert (resumed.param_schedulers[0].last_step ==
            first.param_schedulers[0].last_step)
    assert resumed.optim_wrapper.get_lr()['lr'] == [pytest.approx(0.01)]
    history = resumed.message_hub.get_scalar('train/loss')
    assert history.mean() == pytest.approx(
        first.message_hub.get_scalar('train/loss').mean())


class _NotAllowed:
    pass


def test_weights_only_load_still_refuses_other_globals(tmp_path):
    path = tmp_path / 'untrusted.pth'
    torch.save({'payload': _NotAllowed()}, path)
    with pytest.raises(pickle.UnpicklingError, match='_NotAllowed'):
        torch.load(path)
