"""Datasets that configs name (registered in mmengine's root DATASETS)."""
from .cifar_files import LocalCIFAR10, LocalCIFAR100, write_cifar_files

__all__ = ['LocalCIFAR10', 'LocalCIFAR100', 'write_cifar_files']
