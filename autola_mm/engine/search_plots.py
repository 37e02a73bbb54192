"""Pictures of an AutoLA search (Ma et al., NeurIPS 2020): alpha over time, derived cell.

Both are drawn with matplotlib's object API (no pyplot, no global backend),
so they work on headless machines and inside a training process.
"""
import io
import math
from typing import Tuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from ..models.attention import PRIMITIVES, Genotype
from ..models.attention.search_space import edge_names, num_dag_nodes
from ..utils import write_atomically

BOX_HALF_WIDTH = 0.55
BOX_HALF_HEIGHT = 0.25


def softmax(alpha: np.ndarray) -> np.ndarray:
    """``softmax(alpha)`` over the last axis (the primitives)."""
    weights = np.exp(alpha - alpha.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True)


def plot_alpha_history(history: np.ndarray, path: str) -> None:
    """Draw ``softmax(alpha)`` of every edge over the epochs, one panel per edge.

    Args:
        history (np.ndarray): Alpha after every epoch, shape (T, edges,
            len(PRIMITIVES)); row 0 is the initial alpha.
        path (str): Destination PNG.
    """
    history = np.asarray(history, dtype=np.float64)
    if history.ndim != 3 or history.shape[2] != len(PRIMITIVES):
        raise ValueError(f'alpha history of shape {history.shape}: expected (epochs, edges, '
                         f'{len(PRIMITIVES)})')
    weights = softmax(history)
    num_edges = history.shape[1]
    cols = min(5, num_edges)
    rows = math.ceil(num_edges / cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows + 0.8), layout='constrained')
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    epochs = np.arange(len(history))
    for edge, name in enumerate(edge_names(num_dag_nodes(num_edges))):
        ax = axes[edge // cols][edge % cols]
        for column, primitive in enumerate(PRIMITIVES):
            ax.plot(epochs, weights[:, edge, column], label=primitive, linewidth=1.2)
        ax.set_title(f'edge {edge}: {name}', fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes.flat[num_edges:]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel('epoch')
    for row in axes:
        row[0].set_ylabel('softmax(alpha)')
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc='outside lower center',
               ncol=5, fontsize=8)
    save_png(fig, path)


def plot_genotype(genotype: Genotype, path: str) -> None:
    """Draw a HOGA cell: groups, nodes and the operation on every edge.

    Groups ``g_i`` sit below their node ``n_{i+1}``; edges between nodes arc
    above them. Every node and the group SE ``s`` feed the concat and
    projection (drawn from the last node and ``s`` only).

    Args:
        genotype (Genotype): The cell to draw.
        path (str): Destination PNG.
    """
    k = genotype.num_nodes
    fig = Figure(figsize=(2.2 * (k + 2), 5.5))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(1.0, 2 * k + 3.8)
    ax.set_ylim(-2.2, 3.2)
    ax.axis('off')
    node_xy = {i: (2.0 * i, 0.0) for i in range(1, k + 1)}
    group_xy = {i: (2.0 * (i + 1), -1.6) for i in range(k)}
    output_xy = (2.0 * k + 2.6, 0.0)
    summary_xy = (2.0 * k + 2.6, -1.6)
    for i, xy in node_xy.items():
        _box(ax, xy, f'n{i}', '#cfe2f3')
    for i, xy in group_xy.items():
        _box(ax, xy, f'g{i}', '#eeeeee')
    _box(ax, summary_xy, 's = SE(sum g)', '#eeeeee')
    _box(ax, output_xy, f'concat(n1..n{k}, s)\nproj, +x, SE', '#d9ead3')
    for node, edges in enumerate(genotype.nodes, start=1):
        x = node_xy[node][0]
        for op, slot in edges:
            if slot == 0:
                _arrow(ax, (x, -1.6 + BOX_HALF_HEIGHT), (x, -BOX_HALF_HEIGHT), op, 0.0)
            else:
                _arrow(ax, (node_xy[slot][0] + 0.2, BOX_HALF_HEIGHT),
                       (x - 0.2, BOX_HALF_HEIGHT), op, -0.35)
    _arrow(ax, (node_xy[k][0] + BOX_HALF_WIDTH, 0.0), (output_xy[0] - BOX_HALF_WIDTH, 0.0), '',
           0.0)
    _arrow(ax, (summary_xy[0], -1.6 + BOX_HALF_HEIGHT), (summary_xy[0], -BOX_HALF_HEIGHT), '',
           0.0)
    ax.text(1.2, 3.0, str(genotype).replace(' | ', '\n'), fontsize=7, va='top',
            family='monospace')
    save_png(fig, path)


def save_png(fig: Figure, path: str) -> None:
    """Write ``fig`` as a PNG to ``path`` whole or not at all (the picture of the
    epoch before survives an interrupted write)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=100)
    write_atomically(path, buffer.getvalue())


def _box(ax, xy: Tuple[float, float], text: str, color: str) -> None:
    ax.add_patch(FancyBboxPatch((xy[0] - BOX_HALF_WIDTH, xy[1] - BOX_HALF_HEIGHT),
                                2 * BOX_HALF_WIDTH, 2 * BOX_HALF_HEIGHT,
                                boxstyle='round,pad=0.05', facecolor=color, edgecolor='black',
                                zorder=2))
    ax.text(*xy, text, ha='center', va='center', fontsize=9, zorder=3)


def _arrow(ax, start: Tuple[float, float], end: Tuple[float, float], label: str,
           bend: float) -> None:
    ax.annotate('', xy=end, xytext=start,
                arrowprops=dict(arrowstyle='-|>', connectionstyle=f'arc3,rad={bend}',
                                shrinkA=0, shrinkB=0, color='#444444'))
    if label:
        mid_x = (start[0] + end[0]) / 2
        mid_y = (start[1] + end[1]) / 2 - bend * (end[0] - start[0]) / 2
        ax.text(mid_x, mid_y, label, ha='center', va='center', fontsize=7,
                bbox=dict(boxstyle='round,pad=0.15', facecolor='white', edgecolor='none'))
