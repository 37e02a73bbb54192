"""Genotype files that a config names, checked before any model is built.

A searched HOGA (AutoLA, Ma et al., NeurIPS 2020) plugs into a config by path:
``dict(type='HOGA', genotype='work_dirs/<search>/genotype.json')``. A path that
does not exist would fail deep inside the model's constructor; the tools
check every ``genotype`` entry of ``cfg.model`` first and say in one line
where ``tools/search.py`` writes genotypes.
"""
import os
import os.path as osp
from typing import Any, Iterator, Tuple

#: Where ``tools/search.py`` (and ``make demo``) write the searched genotype.
SEARCH_OUTPUT = ('tools/search.py writes <work_dir>/genotype.json, by default '
                 'work_dirs/<search config name>/genotype.json (make demo: '
                 'work_dirs/demo/search/genotype.json); see docs/search.md')


class GenotypeFileError(FileNotFoundError):
    """A genotype file named by a config does not exist."""


def genotype_entries(node: Any, prefix: str = 'model') -> Iterator[Tuple[str, Any]]:
    """Every ``genotype`` value inside a (nested) config, with its key path.

    Args:
        node: A config dict, list or value.
        prefix (str): The key path of ``node``, e.g. ``model``.

    Yields:
        tuple[str, Any]: ``('model.backbone.plugins.0.cfg.genotype', value)``.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            path = f'{prefix}.{key}'
            if key == 'genotype':
                yield path, value
            else:
                yield from genotype_entries(value, path)
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from genotype_entries(value, f'{prefix}.{index}')


def is_genotype_file(value: Any) -> bool:
    """Whether HOGA reads ``value`` as a file, not as a compact genotype string.

    A path object, a str ending in ``.json``, or a str without ``:`` (every
    edge of the compact form is ``op:slot``).
    """
    if isinstance(value, os.PathLike):
        return True
    return isinstance(value, str) and (value.lower().endswith('.json') or ':' not in value)


def check_genotype_files(model_cfg: Any) -> None:
    """Raise :class:`GenotypeFileError` for the first genotype file that is missing.

    Args:
        model_cfg: The config's ``model`` entry.
    """
    for key, value in genotype_entries(model_cfg):
        if is_genotype_file(value) and not osp.isfile(value):
            where = ('' if osp.isabs(value) else
                     f', relative to the working directory {os.getcwd()}')
            raise GenotypeFileError(f'genotype file {os.fspath(value)} ({key}) does not '
                                    f'exist{where}; {SEARCH_OUTPUT}')
