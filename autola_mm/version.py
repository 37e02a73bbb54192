"""The version of autola_mm."""

__version__ = '0.1.0'


def _parse_version_info(version: str) -> tuple:
    """Split ``'0.1.0'`` into ``(0, 1, 0)``."""
    return tuple(int(part) for part in version.split('.'))


version_info = _parse_version_info(__version__)
