"""Utilities shared by the tools and the models."""
from .checkpoint_match import (CheckpointMismatchError, CompactKeyListFilter,
                               MissingCheckpointError, check_checkpoint_fits,
                               checkpoint_state_dict, compact_mmengine_mismatch, mismatch_report,
                               read_checkpoint, state_dict_mismatch)
from .data_layout import DataLayoutError, check_data_roots, data_layout_problems
from .distributed import init_cpu_distributed, use_cpu_model_wrapper
from .genotype_files import GenotypeFileError, check_genotype_files
from .launch import (add_resume_argument, add_runner_arguments, apply_resume, build_runner,
                     load_tool_config, parse_runner_args, prepare_run)
from .safe_globals import register_checkpoint_globals

__all__ = [
    'CheckpointMismatchError', 'CompactKeyListFilter', 'MissingCheckpointError',
    'check_checkpoint_fits', 'checkpoint_state_dict', 'compact_mmengine_mismatch',
    'mismatch_report', 'read_checkpoint', 'state_dict_mismatch',
    'GenotypeFileError', 'check_genotype_files', 'DataLayoutError', 'check_data_roots',
    'data_layout_problems', 'init_cpu_distributed', 'use_cpu_model_wrapper',
    'add_runner_arguments', 'add_resume_argument', 'apply_resume', 'parse_runner_args',
    'build_runner', 'load_tool_config', 'prepare_run', 'register_checkpoint_globals'
]
