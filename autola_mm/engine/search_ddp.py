"""Distributed data parallel for the AutoLA search (Ma et al., NeurIPS 2020).

mmengine's ``MMDistributedDataParallel.train_step`` runs one forward, one
backward and one optimizer: the bi-level search needs two of each. This
wrapper hands the whole step to the search model, which averages its
gradients over the processes itself before each optimizer step. DDP still
broadcasts rank 0's parameters and buffers when it wraps the model.
"""
from typing import Dict, Union

import torch
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapperDict
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class SearchDistributedDataParallel(MMDistributedDataParallel):
    """DDP whose ``train_step`` is the wrapped search model's own."""

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        """Run the search model's bi-level step.

        Args:
            data (dict): ``dict(train=batch, val=batch)``.
            optim_wrapper (OptimWrapperDict): The architecture and weights
                optimizer wrappers.

        Returns:
            dict[str, Tensor]: The model's log variables.
        """
        return self.module.train_step(data, optim_wrapper)
