"""Fixtures of the attention tests: the parity cases and the converter tool."""
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch

CONVERTER_PATH = (Path(__file__).resolve().parents[3] / 'tools' / 'model_converters' /
                  'autola_official.py')


@pytest.fixture(scope='session')
def parity_cases(hoga_parity_file: Path) -> dict:
    """The authors' HOGA cases: name -> dict(in_channels, genotype, state_dict, ...)."""
    return torch.load(hoga_parity_file, map_location='cpu', weights_only=True)


@pytest.fixture(scope='session')
def converter() -> ModuleType:
    """``tools/model_converters/autola_official.py`` imported as a module."""
    spec = importlib.util.spec_from_file_location('autola_official', CONVERTER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
