"""The figures of AutoLA's supplement (Ma et al., NeurIPS 2020): class
selectivity per stage, the Grad-CAM / guided backpropagation grid of its
Figure 3, and t-SNE scatters.

Figures are drawn on matplotlib ``Figure`` objects with the Agg canvas, never
through ``pyplot``, so no window opens and no global state changes. Every
function returns the figure's :class:`FigureLayout`; the PNG is exactly
``width_px x height_px``.
"""
from dataclasses import dataclass
from typing import Dict, List, Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Dots per inch of every figure.
DPI = 100
#: Size of one Grad-CAM grid cell, inches.
CAM_CELL_INCHES = 1.6
#: Size of one selectivity panel, inches (width, height).
SELECTIVITY_PANEL_INCHES = (4.0, 3.2)
#: Size of a t-SNE scatter, inches (width, height).
TSNE_INCHES = (7.0, 5.0)
#: Histogram bins of the selectivity index over [0, 1].
SELECTIVITY_BINS = 20


@dataclass(frozen=True)
class FigureLayout:
    """Grid and pixel size of a saved figure.

    Args:
        rows (int): Rows of panels.
        cols (int): Columns of panels.
        width_px (int): Width of the PNG.
        height_px (int): Height of the PNG.
    """
    rows: int
    cols: int
    width_px: int
    height_px: int


def _new_figure(width_in: float, height_in: float) -> Figure:
    figure = Figure(figsize=(width_in, height_in), dpi=DPI, layout='constrained')
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str, rows: int, cols: int) -> FigureLayout:
    figure.savefig(path, dpi=DPI)
    width, height = figure.get_size_inches() * DPI
    return FigureLayout(rows, cols, int(round(width)), int(round(height)))


def selectivity_figure(indices: Dict[str, Dict[str, np.ndarray]],
                       path: str) -> FigureLayout:
    """One panel per stage, one histogram curve per model.

    Args:
        indices (dict[str, dict[str, np.ndarray]]): Model label to stage name
            to the (C,) selectivity indices of its channels. Every model has
            the same stages.
        path (str): Where to write the PNG.

    Returns:
        FigureLayout: ``1 x stages`` panels.
    """
    if not indices:
        raise ValueError('selectivity_figure needs at least one model')
    stages = list(next(iter(indices.values())))
    for label, per_stage in indices.items():
        if list(per_stage) != stages:
            raise ValueError(f'model {label} has stages {", ".join(per_stage)}, '
                             f'the first model {", ".join(stages)}')
    width, height = SELECTIVITY_PANEL_INCHES
    figure = _new_figure(width * len(stages), height)
    axes = figure.subplots(1, len(stages), squeeze=False)[0]
    for ax, stage in zip(axes, stages):
        for label, per_stage in indices.items():
            ax.hist(np.asarray(per_stage[stage]), bins=SELECTIVITY_BINS, range=(0, 1),
                    density=True, histtype='step', linewidth=1.5, label=label)
        ax.set_title(stage)
        ax.set_xlim(0, 1)
        ax.set_xlabel('class selectivity index')
    axes[0].set_ylabel('density')
    axes[0].legend()
    return _save(figure, path, 1, len(stages))


def cam_grid_figure(inputs: Sequence[np.ndarray], cams: Sequence[Sequence[np.ndarray]],
                    guided: Sequence[Sequence[np.ndarray]], model_labels: Sequence[str],
                    row_labels: Sequence[str], cell_labels: Sequence[Sequence[str]],
                    path: str) -> FigureLayout:
    """The grid of the supplement's Figure 3.

    One row per image: the input, then one Grad-CAM column per model, then
    one guided backpropagation column per model.

    Args:
        inputs (Sequence[np.ndarray]): Per image, RGB (H, W, 3) uint8.
        cams (Sequence[Sequence[np.ndarray]]): Per image, per model, the
            Grad-CAM overlay, RGB (H, W, 3) uint8.
        guided (Sequence[Sequence[np.ndarray]]): Per image, per model, the
            guided backpropagation image, RGB (H, W, 3) uint8.
        model_labels (Sequence[str]): Column titles, one per model.
        row_labels (Sequence[str]): One per image, shown left of the input.
        cell_labels (Sequence[Sequence[str]]): Per image, per model, the
            explained class, shown under the model's cells.
        path (str): Where to write the PNG.

    Returns:
        FigureLayout: ``images x (1 + 2 * models)`` cells.
    """
    rows, models = len(inputs), len(model_labels)
    for name, per_image in (('cams', cams), ('guided', guided), ('cell_labels', cell_labels)):
        if len(per_image) != rows or any(len(cells) != models for cells in per_image):
            raise ValueError(f'{name} must hold {models} entries for each of '
                             f'{rows} images')
    if len(row_labels) != rows:
        raise ValueError(f'{len(row_labels)} row labels for {rows} images')
    cols = 1 + 2 * models
    figure = _new_figure(CAM_CELL_INCHES * cols, CAM_CELL_INCHES * rows)
    axes = figure.subplots(rows, cols, squeeze=False)
    titles = (['input'] + [f'Grad-CAM\n{label}' for label in model_labels] +
              [f'Guided BP\n{label}' for label in model_labels])
    for row in range(rows):
        images = [inputs[row], *cams[row], *guided[row]]
        captions = ['', *cell_labels[row], *cell_labels[row]]
        for col, (ax, image, caption) in enumerate(zip(axes[row], images, captions)):
            ax.imshow(image, interpolation='nearest')
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(caption, fontsize=8)
            if row == 0:
                ax.set_title(titles[col], fontsize=9)
        axes[row][0].set_ylabel(row_labels[row], fontsize=8)
    return _save(figure, path, rows, cols)


def tsne_figure(embedding: np.ndarray, labels: np.ndarray, class_names: List[str],
                title: str, path: str) -> FigureLayout:
    """A 2-D scatter, one colour per class, with a legend of class names.

    Args:
        embedding (np.ndarray): Shape (N, 2).
        labels (np.ndarray): Shape (N,), integer classes.
        class_names (list[str]): Names indexed by label.
        title (str): Figure title.
        path (str): Where to write the PNG.

    Returns:
        FigureLayout: one panel.
    """
    if embedding.ndim != 2 or embedding.shape[1] != 2 or len(embedding) != len(labels):
        raise ValueError(f'embedding must be (N, 2) with N labels, got shape '
                         f'{embedding.shape} and {len(labels)} labels')
    figure = _new_figure(*TSNE_INCHES)
    ax = figure.subplots()
    colours = matplotlib.colormaps['tab10' if len(class_names) <= 10 else 'tab20']
    for index in np.unique(labels):
        chosen = labels == index
        ax.scatter(embedding[chosen, 0], embedding[chosen, 1], s=6,
                   color=colours(int(index) % colours.N), label=class_names[index])
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc='center left', bbox_to_anchor=(1.0, 0.5), markerscale=2, fontsize=8,
              frameon=False)
    return _save(figure, path, 1, 1)
