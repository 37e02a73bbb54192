"""autola_mm: Auto Learning Attention (AutoLA, NeurIPS 2020) for OpenMMLab."""
from . import datasets  # noqa: F401
from . import models  # noqa: F401
from . import engine  # noqa: F401
from .utils.checkpoint_loaders import install_checkpoint_loaders
from .utils.safe_globals import register_checkpoint_globals
from .version import __version__, version_info

register_checkpoint_globals()
install_checkpoint_loaders()

__all__ = ['__version__', 'version_info']
