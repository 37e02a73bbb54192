"""Build an mm model from a config and load its checkpoint, on the CPU.

The analyses of AutoLA (Ma et al., NeurIPS 2020) run trained models; a
checkpoint that does not belong to its config fails here with the config, the
checkpoint and the first keys that differ (``autola_mm.utils.checkpoint_match``),
before the model runs.
"""
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from torch import nn

from ..utils import (check_checkpoint_fits, check_genotype_files, checkpoint_state_dict,
                     read_checkpoint)
from .input_errors import AnalysisInputError


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

    Raises:
        GenotypeFileError: When a genotype file of the model does not exist.
        MissingCheckpointError: When the checkpoint file does not exist.
        CorruptCheckpointError: When it is truncated or corrupt.
        CheckpointMismatchError: When the checkpoint holds another model.
    """
    cfg = load_config(config, cfg_options)
    check_genotype_files(cfg.get('model'))
    content = read_checkpoint(checkpoint)
    model = build_model(cfg)
    check_checkpoint_fits(model, content, checkpoint, config)
    model.load_state_dict(checkpoint_state_dict(content), strict=False)
    model.dataset_meta = content.get('meta', {}).get('dataset_meta')
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
            raise AnalysisInputError('--model takes CONFIG CHECKPOINT [LABEL], got '
                             f'{len(spec)} values: {" ".join(spec)}')
        config, checkpoint = spec[:2]
        label = spec[2] if len(spec) == 3 else Path(config).stem
        models.append((config, checkpoint, label))
    labels = [label for _, _, label in models]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise AnalysisInputError(f'model labels must differ, got {", ".join(repeated)} '
                         'more than once: give each --model a LABEL')
    return models
