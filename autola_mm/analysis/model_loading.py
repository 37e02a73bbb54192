"""Build an mm model from a config and load its checkpoint, on the CPU.

The analyses of AutoLA (Ma et al., NeurIPS 2020) run trained models; a
checkpoint that does not belong to its config fails here with the config, the
checkpoint and the first keys that differ, not deep inside ``torch``.
"""
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import CheckpointLoader, load_checkpoint
from torch import nn

#: How many keys of each kind a mismatch error lists.
SHOWN_KEYS = 5


class CheckpointMismatchError(ValueError):
    """A checkpoint whose weights do not fit the model its config builds."""


def state_dict_mismatch(model_state: Dict[str, torch.Tensor],
                        checkpoint_state: Dict[str, torch.Tensor]) -> Dict[str, List[str]]:
    """Keys that differ between a model's state dict and a checkpoint's.

    ``num_batches_tracked`` buffers are ignored, as mmengine does; a leading
    ``module.`` (a distributed wrapper's prefix) is stripped from checkpoint
    keys.

    Args:
        model_state (dict[str, Tensor]): The model's ``state_dict()``.
        checkpoint_state (dict[str, Tensor]): The checkpoint's state dict.

    Returns:
        dict[str, list[str]]: ``missing`` (in the model only), ``unexpected``
        (in the checkpoint only) and ``shape`` (``key: checkpoint shape vs
        model shape``), each sorted.
    """
    checkpoint_state = {
        key[len('module.'):] if key.startswith('module.') else key: value
        for key, value in checkpoint_state.items()
    }
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


def _describe_mismatch(mismatch: Dict[str, List[str]]) -> str:
    lines = []
    for kind, title in (('missing', 'missing from the checkpoint'),
                        ('unexpected', 'not in the model'),
                        ('shape', 'of another shape')):
        keys = mismatch[kind]
        if keys:
            first = f', the first {SHOWN_KEYS}' if len(keys) > SHOWN_KEYS else ''
            lines.append(f'  {len(keys)} keys {title}{first}:')
            lines.extend(f'    {key}' for key in keys[:SHOWN_KEYS])
    return '\n'.join(lines)


def load_config(config: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config, apply ``--cfg-options`` and enter its default scope.

    Args:
        config (str): Path of the config file.
        cfg_options (dict, optional): Overrides, as ``--cfg-options`` gives.

    Returns:
        Config: The merged config.
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return cfg


def build_model(cfg: Config) -> nn.Module:
    """Build ``cfg.model`` with the config's data preprocessor, in eval mode.

    Args:
        cfg (Config): A config whose default scope is entered.

    Returns:
        nn.Module: The model, on the CPU, in eval mode.
    """
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    model.eval()
    return model


def load_model(config: str,
               checkpoint: str,
               cfg_options: Optional[dict] = None) -> Tuple[nn.Module, Config]:
    """Build the model of a config and load a checkpoint into it, strictly.

    Args:
        config (str): Path of the config file.
        checkpoint (str): Path or URL of the checkpoint.
        cfg_options (dict, optional): Overrides of the config.

    Returns:
        tuple[nn.Module, Config]: The model (CPU, eval mode) and its config.
        ``model.dataset_meta`` holds the checkpoint's dataset metainfo (the
        class names of the training data), None when it has none.
    """
    cfg = load_config(config, cfg_options)
    model = build_model(cfg)
    try:
        loaded = load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                                 logger='silent')
    except RuntimeError as error:
        state = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu',
                                                 logger='silent')
        mismatch = _describe_mismatch(
            state_dict_mismatch(model.state_dict(), state.get('state_dict', state)))
        if not mismatch:
            raise
        raise CheckpointMismatchError(
            f'checkpoint {checkpoint} does not match the model of config '
            f'{config}:\n{mismatch}') from error
    model.dataset_meta = loaded.get('meta', {}).get('dataset_meta')
    return model, cfg


def parse_model_specs(specs: Sequence[Sequence[str]]) -> List[Tuple[str, str, str]]:
    """``--model CONFIG CHECKPOINT [LABEL]`` arguments to labelled triples.

    Args:
        specs (Sequence[Sequence[str]]): One list of 2 or 3 strings per model.

    Returns:
        list[tuple[str, str, str]]: ``(config, checkpoint, label)``; the label
        defaults to the config's file name without ``.py``.
    """
    models = []
    for spec in specs:
        if len(spec) not in (2, 3):
            raise ValueError('--model takes CONFIG CHECKPOINT [LABEL], got '
                             f'{len(spec)} values: {" ".join(spec)}')
        config, checkpoint = spec[:2]
        label = spec[2] if len(spec) == 3 else Path(config).stem
        models.append((config, checkpoint, label))
    labels = [label for _, _, label in models]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f'model labels must differ, got {", ".join(repeated)} '
                         'more than once: give each --model a LABEL')
    return models
