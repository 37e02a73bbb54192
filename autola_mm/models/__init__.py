"""Models of autola_mm; importing it registers them in mmengine's root ``MODELS``."""
from . import backbones  # noqa: F401
from . import search  # noqa: F401
from .attention import CBAM, DEFAULT_GENOTYPE, HOGA, OPERATIONS, PRIMITIVES, SE, Genotype

__all__ = [
    'SE', 'CBAM', 'HOGA', 'Genotype', 'DEFAULT_GENOTYPE', 'PRIMITIVES', 'OPERATIONS'
]
