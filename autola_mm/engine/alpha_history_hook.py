"""Keep the architecture matrix of an AutoLA search (Ma et al., NeurIPS 2020) per epoch.

The history (the initial ``alpha``, then ``alpha`` after every epoch) travels
in the checkpoints, so a resumed search continues it. After every epoch it is
written to ``alphas.npy`` (shape (epochs + 1, edges, primitives)); at every
checkpoint and at the end ``alpha_history.png`` shows ``softmax(alpha)`` of
every edge over the epochs.
"""
import io
import os.path as osp
from typing import List

import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..utils import write_atomically
from .genotype_hook import search_model

CHECKPOINT_KEY = 'alpha_history'


@HOOKS.register_module()
class AlphaHistoryHook(Hook):
    """Record ``alpha`` after every epoch, save it and plot its softmax.

    Args:
        filename (str): History file in the work dir. Default: ``alphas.npy``.
        figure (str): Plot in the work dir. Default: ``alpha_history.png``.
    """

    def __init__(self, filename: str = 'alphas.npy', figure: str = 'alpha_history.png'):
        self.filename = filename
        self.figure = figure
        self.history: List[torch.Tensor] = []

    def _record(self, runner) -> None:
        self.history.append(search_model(runner).alpha.detach().cpu().clone())

    def before_train(self, runner) -> None:
        """Start the history, unless a resumed checkpoint brought it up to this epoch."""
        if len(self.history) != runner.epoch + 1:
            if runner.epoch > 0:
                runner.logger.warning(f'the checkpoint of epoch {runner.epoch} has no alpha '
                                      f'history: {self.filename} starts at this epoch')
            self.history = []
            self._record(runner)

    def after_train_epoch(self, runner) -> None:
        """Record alpha and rewrite the history file."""
        self._record(runner)
        self.save(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Put the history into the checkpoint and plot it."""
        checkpoint[CHECKPOINT_KEY] = torch.stack(self.history)
        self.plot(runner)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Continue the history of the checkpoint, if it has one."""
        if CHECKPOINT_KEY in checkpoint:
            self.history = list(checkpoint[CHECKPOINT_KEY].unbind())

    def after_train(self, runner) -> None:
        """Write the final history and plot."""
        self.save(runner)
        self.plot(runner)

    @master_only
    def save(self, runner) -> None:
        """Write the history to ``alphas.npy``, whole or not at all."""
        buffer = io.BytesIO()
        np.save(buffer, torch.stack(self.history).numpy())
        write_atomically(osp.join(runner.work_dir, self.filename), buffer.getvalue())

    @master_only
    def plot(self, runner) -> None:
        """Draw ``softmax(alpha)`` of every edge over the epochs."""
        from .search_plots import plot_alpha_history  # matplotlib only when drawing
        plot_alpha_history(torch.stack(self.history).numpy(),
                           osp.join(runner.work_dir, self.figure))
