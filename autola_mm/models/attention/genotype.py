"""The genotype of a HOGA module (Auto Learning Attention, Ma et al., NeurIPS 2020).

A genotype lists, node by node, the incoming edges of a HOGA module as
``(operation, slot)`` pairs. With ``k`` groups there are ``k`` nodes and node
``i`` (1-based) has exactly ``i`` edges, one from each slot ``0..i-1``: slot 0
holds group ``g_{i-1}``, slot ``j >= 1`` holds node ``n_j``. The order of the
edges is kept: the authors' flat edge index ``e`` follows it.

Besides ``None`` (the published :data:`DEFAULT_GENOTYPE`, 4 groups) and a
:class:`Genotype`, :meth:`Genotype.build` reads three forms:

* a path to the JSON file the search writes (:meth:`Genotype.to_json`): an
  ``os.PathLike``, a ``str`` ending in ``.json`` or a ``str`` without ``:``;
* the compact string, nodes separated by ``|``, edges by spaces, as
  ``'skip_connect:0 | sep_conv_3x3_spatial:0 sep_conv_3x3:1 | ...'``
  (what ``str(genotype)`` writes);
* the list of ``k(k+1)/2`` ``[op, slot]`` pairs in node order (the form of
  the authors' code).

The JSON file is an object ``{"format": "autola_mm.genotype", "version": 1,
"search_space": {"primitives": [...], "num_nodes": k}, "nodes": [[[op, slot],
...], ...], "meta": {...}}``; a file whose primitives differ from
:data:`PRIMITIVES` comes from another search space and is refused.
"""
import json
import os
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from ...utils.atomic_checkpoint_hook import write_atomically
from .search_space import PRIMITIVES, num_dag_edges

Edge = Tuple[str, int]
Nodes = Tuple[Tuple[Edge, ...], ...]
GenotypeSpec = Union[None, 'Genotype', str, os.PathLike, Sequence]

JSON_FORMAT = 'autola_mm.genotype'
JSON_VERSION = 1


class Genotype:
    """An immutable, validated HOGA genotype.

    Args:
        nodes (Sequence[Sequence[tuple[str, int]]]): For every node, its
            ``(op, slot)`` edges in order.
    """

    __slots__ = ('_nodes', )

    def __init__(self, nodes: Sequence[Sequence[Edge]]):
        self._nodes = _validated_nodes(nodes)

    @classmethod
    def build(cls, spec: GenotypeSpec = None, groups: int = 4) -> 'Genotype':
        """Make a genotype from any accepted form and check it fits ``groups``.

        Args:
            spec: ``None``, a :class:`Genotype`, a JSON file path (an
                ``os.PathLike``, a ``str`` ending in ``.json`` or without
                ``:``), a compact string or a list of ``[op, slot]`` pairs.
            groups (int): Number of channel groups (= nodes). Default: 4.

        Returns:
            Genotype: A genotype with ``groups`` nodes.
        """
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(f'groups={groups!r}: expected a positive int')
        if spec is None:
            if groups != DEFAULT_GENOTYPE.num_nodes:
                raise ValueError(f'no default genotype for groups={groups}: the published '
                                 f'one has {DEFAULT_GENOTYPE.num_nodes} nodes; pass a genotype')
            genotype = DEFAULT_GENOTYPE
        elif isinstance(spec, Genotype):
            genotype = spec
        elif isinstance(spec, os.PathLike) or (isinstance(spec, str) and _is_path(spec)):
            genotype = cls.from_json(spec)
        elif isinstance(spec, str):
            genotype = cls.parse(spec)
        elif isinstance(spec, (list, tuple)):
            genotype = cls.from_edges(spec, groups)
        else:
            raise ValueError(f'genotype {spec!r}: expected None, a Genotype, a JSON file path, '
                             "a compact string ('op:slot | op:slot op:slot | ...') or a list of "
                             '[op, slot] pairs')
        if genotype.num_nodes != groups:
            raise ValueError(
                f'genotype {str(genotype)!r} has {genotype.num_nodes} nodes '
                f'({genotype.num_edges} edges); groups={groups} needs {groups} nodes '
                f'({num_dag_edges(groups)} edges)')
        return genotype

    @classmethod
    def from_edges(cls, edges: Sequence[Sequence], groups: int = 4) -> 'Genotype':
        """Split a list of edges in node order (the authors' format).

        Args:
            edges (Sequence): ``groups * (groups + 1) / 2`` ``[op, slot]`` pairs.
            groups (int): Number of nodes. Default: 4.

        Returns:
            Genotype: Node ``i`` takes the next ``i`` edges.
        """
        if len(edges) != num_dag_edges(groups):
            raise ValueError(f'genotype has {len(edges)} edges; groups={groups} needs '
                             f'{num_dag_edges(groups)} (node i has i edges)')
        starts = [num_dag_edges(i) for i in range(groups + 1)]
        return cls([edges[starts[i]:starts[i + 1]] for i in range(groups)])

    @classmethod
    def parse(cls, text: str) -> 'Genotype':
        """Read the compact form ``'op:slot | op:slot op:slot | ...'``.

        Args:
            text (str): Nodes separated by ``|``, edges by spaces or commas.

        Returns:
            Genotype: The genotype the text describes.
        """
        nodes = []
        for node_text in text.split('|'):
            node = []
            for token in node_text.replace(',', ' ').split():
                op, sep, slot = token.rpartition(':')
                if not sep or not op or not slot.isdecimal():
                    raise ValueError(f'genotype token {token!r} in {text!r} is not '
                                     "'op:slot' (e.g. 'sep_conv_3x3:1'); a genotype file "
                                     'path ends in .json')
                node.append((op, int(slot)))
            nodes.append(node)
        return cls(nodes)

    @classmethod
    def from_json(cls, path: Union[str, os.PathLike]) -> 'Genotype':
        """Read a genotype file written by :meth:`to_json`.

        Args:
            path (str | os.PathLike): The JSON file.

        Returns:
            Genotype: The genotype it holds.

        Raises:
            FileNotFoundError: When ``path`` is not a file.
        """
        if not Path(path).is_file():
            raise FileNotFoundError(f'genotype file not found: {os.fspath(path)!r} (tools/'
                                    'search.py writes <work_dir>/genotype.json)')
        path = Path(path)
        try:
            content = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f'genotype file {str(path)!r} is not JSON: {error}') from error
        if not isinstance(content, dict) or content.get('format') != JSON_FORMAT:
            raise ValueError(f'genotype file {str(path)!r} is not an {JSON_FORMAT!r} '
                             'file (its "format" differs)')
        space = content.get('search_space', {})
        primitives = tuple(space.get('primitives', ()))
        if primitives != PRIMITIVES:
            raise ValueError(f'genotype file {str(path)!r} comes from another search space: '
                             f'primitives {list(primitives)}, expected {list(PRIMITIVES)}')
        genotype = cls(content.get('nodes', ()))
        if space.get('num_nodes') != genotype.num_nodes:
            raise ValueError(f'genotype file {str(path)!r} declares num_nodes='
                             f'{space.get("num_nodes")!r} but holds {genotype.num_nodes} nodes')
        return genotype

    def to_json(self, path: Union[str, os.PathLike],
                meta: Optional[Dict[str, Any]] = None) -> None:
        """Write the genotype and its search space to a JSON file.

        Args:
            path (str | os.PathLike): Destination; parent folders are made. It
                holds its old content or the whole new one, whatever interrupts
                the write.
            meta (dict, optional): JSON-serialisable extras (e.g. the final
                ``alpha``, the epoch), stored under ``"meta"`` and not read back.
        """
        content = {
            'format': JSON_FORMAT,
            'version': JSON_VERSION,
            'search_space': {'primitives': list(PRIMITIVES), 'num_nodes': self.num_nodes},
            'nodes': [[[op, slot] for op, slot in node] for node in self._nodes],
            'meta': meta or {},
        }
        write_atomically(str(path), (json.dumps(content, indent=2) + '\n').encode())

    @property
    def nodes(self) -> Nodes:
        """tuple: For every node, its ``(op, slot)`` edges."""
        return self._nodes

    @property
    def edges(self) -> Tuple[Edge, ...]:
        """tuple: All ``(op, slot)`` edges in genotype order (edge index ``e``)."""
        return tuple(edge for node in self._nodes for edge in node)

    @property
    def num_nodes(self) -> int:
        """int: Number of nodes (= channel groups)."""
        return len(self._nodes)

    @property
    def num_edges(self) -> int:
        """int: Number of edges, ``k(k+1)/2``."""
        return num_dag_edges(self.num_nodes)

    def __str__(self) -> str:
        return ' | '.join(' '.join(f'{op}:{slot}' for op, slot in node) for node in self._nodes)

    def __repr__(self) -> str:
        return f'Genotype({str(self)!r})'

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Genotype) and self._nodes == other._nodes

    def __hash__(self) -> int:
        return hash(self._nodes)


def _is_path(text: str) -> bool:
    """A genotype string names a file when it ends in .json or has no ``op:slot`` token."""
    return text.lower().endswith('.json') or ':' not in text


def _validated_nodes(nodes: Sequence[Sequence[Edge]]) -> Nodes:
    if not isinstance(nodes, (list, tuple)) or not nodes:
        raise ValueError(f'genotype nodes {nodes!r}: expected a non-empty list of nodes')
    validated = []
    for number, node in enumerate(nodes, start=1):
        if not isinstance(node, (list, tuple)):
            raise ValueError(f'genotype node {number} is {node!r}: expected a list of '
                             '(op, slot) edges')
        if len(node) != number:
            raise ValueError(f'genotype node {number} has {len(node)} edges ({node!r}); node i '
                             'needs exactly i edges, one from each slot 0..i-1')
        edges = tuple(_validated_edge(edge, number) for edge in node)
        slots = sorted(slot for _, slot in edges)
        if slots != list(range(number)):
            raise ValueError(f'genotype node {number} reads slots {slots}; it needs one edge '
                             f'from each slot 0..{number - 1}')
        validated.append(edges)
    return tuple(validated)


def _validated_edge(edge: Any, node_number: int) -> Edge:
    if not isinstance(edge, (list, tuple)) or len(edge) != 2:
        raise ValueError(f'genotype edge {edge!r} at node {node_number}: expected (op, slot)')
    op, slot = edge
    if op not in PRIMITIVES:
        raise KeyError(f'unknown HOGA operation {op!r} at node {node_number}; '
                       f'known: {", ".join(PRIMITIVES)}')
    if isinstance(slot, bool) or not isinstance(slot, int):
        raise ValueError(f'slot {slot!r} of edge {edge!r} at node {node_number}: expected an int')
    if not 0 <= slot < node_number:
        raise ValueError(
            f'slot {slot} of edge {edge!r} is out of range for node {node_number}: it reads '
            f'slots 0..{node_number - 1} (0 = group g{node_number - 1}, j >= 1 = node n_j)')
    return op, slot


#: The genotype the AutoLA authors published (4 groups, 10 edges).
DEFAULT_GENOTYPE = Genotype([
    [('skip_connect', 0)],
    [('sep_conv_3x3_spatial', 0), ('sep_conv_3x3', 1)],
    [('CBAM', 0), ('skip_connect', 2), ('sep_conv_3x3', 1)],
    [('sep_conv_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 3), ('dil_conv_3x3', 2)],
])
