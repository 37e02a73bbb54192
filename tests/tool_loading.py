"""The scripts of ``tools/`` imported as modules, so tests call their functions."""
import importlib.util
from pathlib import Path
from types import ModuleType

TOOLS = Path(__file__).resolve().parents[1] / 'tools'


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py``, e.g. ``'train'`` or ``'analysis/get_flops'``.

    Every call executes the script anew and returns a fresh module.
    """
    path = TOOLS / f'{name}.py'
    spec = importlib.util.spec_from_file_location(f"autola_tool_{name.replace('/', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
