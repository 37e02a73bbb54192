"""Command-line arguments the analysis tools share, and how they end on a wrong input."""
import argparse
import sys
from typing import Callable, Optional, Sequence

from mmengine.config import DictAction

from ..utils import (CheckpointMismatchError, CorruptCheckpointError, GenotypeFileError,
                     MissingCheckpointError)
from .input_errors import AnalysisInputError

#: Wrong inputs that end a tool with ``error: <message>`` and no traceback.
INPUT_ERRORS = (AnalysisInputError, CheckpointMismatchError, CorruptCheckpointError,
                GenotypeFileError, MissingCheckpointError)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model CONFIG CHECKPOINT [LABEL]`` (repeated), ``--cfg-options``, ``--out-dir``.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
    """
    parser.add_argument(
        '--model', dest='models', action='append', nargs='+', required=True,
        metavar='CONFIG CHECKPOINT [LABEL]',
        help='a model to analyse; repeat for several (LABEL defaults to the '
        "config's file name)")
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default={},
        help='override settings of every config, e.g. test_dataloader.batch_size=64')
    parser.add_argument('--out-dir', default='work_dirs/analysis',
                        help='where to write the outputs; default: work_dirs/analysis')


def add_data_arguments(parser: argparse.ArgumentParser, max_samples: bool = True) -> None:
    """``--split`` and, unless ``max_samples`` is False, ``--max-samples``.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
        max_samples (bool): Add ``--max-samples``. Defaults to True.
    """
    parser.add_argument('--split', default='test', choices=('train', 'val', 'test'),
                        help='the dataloader of the config to read (test-time '
                        'pipeline, in order); default: test')
    if max_samples:
        parser.add_argument('--max-samples', type=int, default=None,
                            help='use the first N images of the split')


def parse_args(parser: argparse.ArgumentParser,
               argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the arguments and check ``--max-samples`` where there is one.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
        argv (Sequence[str], optional): Arguments; None reads ``sys.argv``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    args = parser.parse_args(argv)
    max_samples = getattr(args, 'max_samples', None)
    if max_samples is not None and max_samples < 1:
        parser.error(f'--max-samples must be positive, got {max_samples}')
    return args


def run_tool(main: Callable[[], object]) -> None:
    """Run a tool's ``main``; a wrong input ends the process with its message.

    Args:
        main (Callable): The tool's ``main``, reading ``sys.argv``.

    Raises:
        SystemExit: ``error: <message>`` (exit status 1) for an error of
            :data:`INPUT_ERRORS`; other errors keep their traceback.
    """
    try:
        main()
    except INPUT_ERRORS as error:
        sys.exit(f'error: {error}')
