"""Fixtures of the attention tests: the parity cases and the converter tool."""
from pathlib import Path
from types import ModuleType

import pytest
import torch
from tool_loading import load_tool

@pytest.fixture(scope='session')
def parity_cases(hoga_parity_file: Path) -> dict:
    """The authors' HOGA cases: name -> dict(in_channels, genotype, state_dict, ...)."""
    return torch.load(hoga_parity_file, map_location='cpu', weights_only=True)


@pytest.fixture(scope='session')
def converter() -> ModuleType:
    """``tools/model_converters/autola_official.py`` imported as a module."""
    return load_tool('model_converters/autola_official')
