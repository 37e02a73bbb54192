"""Utilities shared by the tools and the models."""
from .checkpoint_match import (CheckpointMismatchError, CompactKeyListFilter,
                               MissingCheckpointError, check_checkpoint_fits,
                               checkpoint_state_dict, compact_mmengine_mismatch, mismatch_report,
                               read_checkpoint, state_dict_mismatch)
from .atomic_checkpoint_hook import AtomicCheckpointHook, write_atomically
from .checkpoint_integrity import CorruptCheckpointError, checkpoint_file_problem
from .checkpoint_loaders import exit_on_checkpoint_errors, install_checkpoint_loaders
from .data_layout import DataLayoutError, check_data_roots, data_layout_problems
from .distributed import (RestartRendezvousError, close_distributed, init_cpu_distributed,
                          use_cpu_model_wrapper)
from .genotype_files import GenotypeFileError, check_genotype_files
from .launch import (add_resume_argument, add_runner_arguments, apply_resume, build_runner,
                     load_tool_config, parse_runner_args, prepare_run)
from .offline_pretrained import PretrainedDownloadError, pretrained_init_cfg_keys
from .safe_globals import register_checkpoint_globals

__all__ = [
    'CheckpointMismatchError', 'CompactKeyListFilter', 'MissingCheckpointError',
    'check_checkpoint_fits', 'checkpoint_state_dict', 'compact_mmengine_mismatch',
    'mismatch_report', 'read_checkpoint', 'state_dict_mismatch', 'AtomicCheckpointHook',
    'write_atomically', 'CorruptCheckpointError',
    'checkpoint_file_problem', 'exit_on_checkpoint_errors', 'install_checkpoint_loaders',
    'PretrainedDownloadError', 'pretrained_init_cfg_keys',
    'GenotypeFileError', 'check_genotype_files', 'DataLayoutError', 'check_data_roots',
    'data_layout_problems', 'RestartRendezvousError', 'close_distributed',
    'init_cpu_distributed', 'use_cpu_model_wrapper',
    'add_runner_arguments', 'add_resume_argument', 'apply_resume', 'parse_runner_args',
    'build_runner', 'load_tool_config', 'prepare_run', 'register_checkpoint_globals'
]
