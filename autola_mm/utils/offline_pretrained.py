"""One message for pretrained weights that cannot be downloaded.

Configs of AutoLA (Ma et al., NeurIPS 2020) start detectors and pose models
from ImageNet weights: ``init_cfg=dict(type='Pretrained',
checkpoint='torchvision://resnet50')``. mmengine downloads such a checkpoint
(``torchvision://``, ``open-mmlab://``, an ``http(s)://`` URL) into the torch
hub cache the first time; on a machine without network it stops with
urllib's ``URLError`` traceback. :func:`reporting_network_errors` wraps
mmengine's loaders of these schemes so that the failure is one
:class:`PretrainedDownloadError` naming the file to place in the cache and
the ``--cfg-options`` that trains from scratch instead.
"""
import functools
import os.path as osp
from http.client import HTTPException
from typing import Callable, List, Sequence
from urllib.error import URLError
from urllib.parse import urlparse

import torch
from mmengine.runner.checkpoint import (get_deprecated_model_names, get_external_models,
                                        get_torchvision_models)

#: What a download without network (or with a broken one) raises.
NETWORK_ERRORS = (URLError, ConnectionError, TimeoutError, HTTPException)


class PretrainedDownloadError(RuntimeError):
    """A pretrained checkpoint that is neither in the torch hub cache nor downloadable.

    Args:
        checkpoint (str): The name the config gives, e.g. ``torchvision://resnet50``.
        url (str): Where mmengine downloads it from.
        cache_file (str): Where the download would be stored and is looked for.
        reason (str): Why the download failed.
        init_cfg_keys (Sequence[str]): The config keys of the ``init_cfg``\\ s
            that name it, e.g. ``('model.backbone.init_cfg', )``; empty when
            not known.
    """

    def __init__(self, checkpoint: str, url: str, cache_file: str, reason: str,
                 init_cfg_keys: Sequence[str] = ()):
        self.checkpoint = checkpoint
        self.url = url
        self.cache_file = cache_file
        self.reason = reason
        self.init_cfg_keys = tuple(init_cfg_keys)
        if self.init_cfg_keys:
            scratch = '--cfg-options ' + ' '.join(f'{key}=None' for key in self.init_cfg_keys)
        else:
            scratch = ('set the init_cfg that names it to None, e.g. --cfg-options '
                       'model.backbone.init_cfg=None')
        super().__init__(
            f'pretrained checkpoint {checkpoint} cannot be downloaded from {url} ({reason}). '
            f'Without network, copy that file to {cache_file} (the torch hub cache, '
            f'$TORCH_HOME/hub/checkpoints) and run again; or train from scratch: {scratch}')

    def in_config(self, model_cfg: dict) -> 'PretrainedDownloadError':
        """The same error naming the ``init_cfg`` keys of ``model_cfg`` (``cfg.model``)."""
        return PretrainedDownloadError(self.checkpoint, self.url, self.cache_file, self.reason,
                                       pretrained_init_cfg_keys(model_cfg, self.checkpoint))


def checkpoint_url(checkpoint: str) -> str:
    """The URL mmengine downloads ``checkpoint`` from, as its loaders resolve it."""
    scheme, _, name = checkpoint.partition('://')
    if scheme in ('torchvision', 'modelzoo'):
        return get_torchvision_models()[name]
    if scheme in ('open-mmlab', 'openmmlab'):
        name = get_deprecated_model_names().get(name, name)
        return get_external_models()[name]
    return checkpoint


def hub_cache_file(url: str) -> str:
    """Where ``torch.hub`` stores the download of ``url``: ``<hub dir>/checkpoints/<name>``."""
    return osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(urlparse(url).path))


def _reason(error: Exception) -> str:
    reason = getattr(error, 'reason', None) or error
    return f'{type(error).__name__}: {reason}'


def reporting_network_errors(loader: Callable) -> Callable:
    """``loader`` (an mmengine checkpoint loader) raising :class:`PretrainedDownloadError`
    where a download fails."""

    @functools.wraps(loader)
    def load(filename: str, map_location=None):
        try:
            return loader(filename, map_location)
        except NETWORK_ERRORS as error:
            url = checkpoint_url(filename)
            raise PretrainedDownloadError(filename, url, hub_cache_file(url),
                                          _reason(error)) from error

    return load


def pretrained_init_cfg_keys(node, checkpoint: str, prefix: str = 'model') -> List[str]:
    """The dotted keys of the ``init_cfg``\\ s under ``node`` that load ``checkpoint``.

    Args:
        node: A model config (``cfg.model``) or any part of it.
        checkpoint (str): The checkpoint name, e.g. ``torchvision://resnet50``.
        prefix (str): The key of ``node``. Default: ``'model'``.

    Returns:
        list[str]: E.g. ``['model.backbone.init_cfg']``, as ``--cfg-options`` takes them.
    """
    keys = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f'{prefix}.{key}'
            if key == 'init_cfg' and _loads(value, checkpoint):
                keys.append(path)
            else:
                keys += pretrained_init_cfg_keys(value, checkpoint, path)
    elif isinstance(node, (list, tuple)):
        for index, item in enumerate(node):
            keys += pretrained_init_cfg_keys(item, checkpoint, f'{prefix}.{index}')
    return keys


def _loads(init_cfg, checkpoint: str) -> bool:
    """Whether an ``init_cfg`` (a dict or a list of them) loads ``checkpoint``."""
    init_cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(c, dict) and c.get('checkpoint') == checkpoint for c in init_cfgs)

