"""Whether a checkpoint holds the weights of the model a config builds.

mmengine loads a checkpoint non-strictly: one of another model (another
attention, another genotype, another head) loads the few keys that happen to
fit, warns with every other key on one line, and the evaluation goes on with
initial weights and reports a wrong score. The tools of AutoLA (Ma et al.,
"Auto Learning Attention", NeurIPS 2020) compare the two state dicts first
and refuse such a pair with one message that names both files and the first
keys of each kind of difference, with their count. Where a partial load is
meant (pretrained weights), :class:`CompactKeyListFilter` shortens mmengine's
own warning the same way.
"""
import logging
import os.path as osp
from collections import OrderedDict
from typing import Dict, List

import torch
from mmengine.runner import CheckpointLoader
from torch import nn

#: How many keys of each kind a mismatch message lists.
SHOWN_KEYS = 5

MISMATCH_KINDS = (('missing', 'missing from the checkpoint'), ('unexpected', 'not in the model'),
                  ('shape', 'of another shape'))


class CheckpointMismatchError(ValueError):
    """A checkpoint whose weights do not fit the model its config builds."""


class MissingCheckpointError(FileNotFoundError):
    """A checkpoint file that does not exist."""


def read_checkpoint(path: str) -> dict:
    """Read a checkpoint onto the CPU, refusing a local path that does not exist.

    Args:
        path (str): A local file, or a URL / ``torchvision://`` name that
            mmengine's ``CheckpointLoader`` resolves.

    Returns:
        dict: The checkpoint (``state_dict``, ``meta``, ...) or a bare state dict.

    Raises:
        MissingCheckpointError: When a local file does not exist.
        CorruptCheckpointError: When it is truncated or corrupt (raised by
            the loader ``autola_mm`` installs, see ``checkpoint_loaders``).
    """
    if '://' not in path and not osp.isfile(path):
        raise MissingCheckpointError(f'checkpoint {path} does not exist')
    return CheckpointLoader.load_checkpoint(path, map_location='cpu', logger='silent')


def checkpoint_state_dict(checkpoint: dict) -> Dict[str, torch.Tensor]:
    """The weights of a checkpoint as a model loads them.

    Args:
        checkpoint (dict): From :func:`read_checkpoint`.

    Returns:
        OrderedDict[str, Tensor]: Its ``state_dict`` entry (or the dict
        itself), without a distributed wrapper's leading ``module.``, with
        the ``_metadata`` (module versions) of the saved state dict.
    """
    weights = checkpoint.get('state_dict', checkpoint)
    state = OrderedDict((key[len('module.'):] if key.startswith('module.') else key, value)
                        for key, value in weights.items())
    state._metadata = getattr(weights, '_metadata', OrderedDict())
    return state


def state_dict_mismatch(model_state: Dict[str, torch.Tensor],
                        checkpoint_state: Dict[str, torch.Tensor]) -> Dict[str, List[str]]:
    """Keys that differ between a model's state dict and a checkpoint's.

    ``num_batches_tracked`` buffers are ignored, as mmengine does.

    Args:
        model_state (dict[str, Tensor]): The model's ``state_dict()``.
        checkpoint_state (dict[str, Tensor]): The checkpoint's state dict,
            e.g. from :func:`checkpoint_state_dict`.

    Returns:
        dict[str, list[str]]: ``missing`` (in the model only), ``unexpected``
        (in the checkpoint only) and ``shape`` (``key: checkpoint shape vs
        model shape``), each sorted.
    """
    model_keys = {k for k in model_state if 'num_batches_tracked' not in k}
    checkpoint_keys = {k for k in checkpoint_state if 'num_batches_tracked' not in k}
    shape = [
        f'{key}: {tuple(checkpoint_state[key].shape)} in the checkpoint, '
        f'{tuple(model_state[key].shape)} in the model'
        for key in sorted(model_keys & checkpoint_keys)
        if tuple(checkpoint_state[key].shape) != tuple(model_state[key].shape)
    ]
    return dict(
        missing=sorted(model_keys - checkpoint_keys),
        unexpected=sorted(checkpoint_keys - model_keys),
        shape=shape)


def mismatch_report(mismatch: Dict[str, List[str]]) -> str:
    """Each kind of difference as a count and its first :data:`SHOWN_KEYS` keys.

    Args:
        mismatch (dict[str, list[str]]): From :func:`state_dict_mismatch`.

    Returns:
        str: One indented line per count and per key; empty when nothing differs.
    """
    lines = []
    for kind, title in MISMATCH_KINDS:
        keys = mismatch[kind]
        if keys:
            first = f', the first {SHOWN_KEYS}' if len(keys) > SHOWN_KEYS else ''
            lines.append(f'  {len(keys)} keys {title}{first}:')
            lines.extend(f'    {key}' for key in keys[:SHOWN_KEYS])
    return '\n'.join(lines)


def check_checkpoint_fits(model: nn.Module, checkpoint: dict, checkpoint_path: str,
                          config_path: str) -> None:
    """Raise :class:`CheckpointMismatchError` unless the checkpoint fits the model.

    Args:
        model (nn.Module): The model the config built (not a DDP wrapper).
        checkpoint (dict): From :func:`read_checkpoint`.
        checkpoint_path (str): The checkpoint's file, for the message.
        config_path (str): The config's file, for the message.
    """
    report = mismatch_report(
        state_dict_mismatch(model.state_dict(), checkpoint_state_dict(checkpoint)))
    if report:
        raise CheckpointMismatchError(f'checkpoint {checkpoint_path} does not match the model '
                                      f'of config {config_path}:\n{report}')


# mmengine's non-strict load (a ``Pretrained`` init_cfg, hooks) warns with
# every differing key on one line: 'missing keys in source state_dict: a, b, ...'.
_MMENGINE_MISMATCH = 'The model and loaded state dict do not match exactly'
_MMENGINE_KEY_LISTS = {'missing keys in source state_dict: ': 'missing',
                       'unexpected key in source state_dict: ': 'unexpected'}


def compact_mmengine_mismatch(message: str) -> str:
    """mmengine's state-dict warning with each key list cut to a count and its first keys.

    Args:
        message (str): A message of mmengine's ``load_state_dict``, starting
            with ``The model and loaded state dict do not match exactly``.

    Returns:
        str: The first line, then the key lists as :func:`mismatch_report`
        writes them, then any other line (torch's size mismatches) as it was.
    """
    mismatch = dict(missing=[], unexpected=[], shape=[])
    others = []
    for line in message.splitlines()[1:]:
        kind = next((k for prefix, k in _MMENGINE_KEY_LISTS.items() if line.startswith(prefix)),
                    None)
        if kind is None:
            others += [line] if line.strip() else []
        else:
            mismatch[kind] = line.split(': ', 1)[1].split(', ')
    return '\n'.join([_MMENGINE_MISMATCH, mismatch_report(mismatch), *others])


class CompactKeyListFilter(logging.Filter):
    """Shortens mmengine's state-dict warnings on the logger it is added to.

    ``Runner`` loggers get it from ``autola_mm.utils.build_runner``: loading
    ``torchvision://resnet50`` into a backbone with HOGA then logs the count of
    HOGA weights the checkpoint lacks and the first few, not all of them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite a state-dict warning in place; let every record through."""
        if isinstance(record.msg, str) and record.msg.startswith(_MMENGINE_MISMATCH):
            record.msg = compact_mmengine_mismatch(record.getMessage())
            record.args = ()
        return True
