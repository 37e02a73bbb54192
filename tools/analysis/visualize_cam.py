"""Grad-CAM and guided backpropagation of several models, side by side.

The grid of AutoLA's supplement (Ma et al., NeurIPS 2020, Figure 3): one row
per image; the input, then one Grad-CAM column per model, then one guided
backpropagation column per model, each explaining the class the model
predicts (named under its cells). Grad-CAM looks at ``--layer`` (default: the
backbone's last stage). Images are files (``--images``, through each config's
test pipeline) or indices into a split of each config's dataset
(``--indices``). Writes ``grad_cam.png`` to ``--out-dir``.

Example::

    python tools/analysis/visualize_cam.py \
        --model configs/plain.py work_dirs/plain/epoch_100.pth plain \
        --model configs/hoga.py work_dirs/hoga/epoch_100.pth HOGA \
        --images demo/cat.jpg demo/dog.jpg
"""
import argparse
import os.path as osp
from typing import List, Optional, Sequence, Union

from mmengine.config import Config
from mmengine.utils import ProgressBar, mkdir_or_exist

from autola_mm.analysis import (AnalysisInputError, add_data_arguments,
                                add_model_arguments, build_dataset,
                                cam_grid_figure, class_names, explain,
                                load_image_file, load_model, parse_args,
                                parse_model_specs, resolve_layer, run_tool)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_model_arguments(parser)
    add_data_arguments(parser, max_samples=False)
    images = parser.add_mutually_exclusive_group(required=True)
    images.add_argument('--images', nargs='+', help='image files, one row each')
    images.add_argument('--indices', nargs='+', type=int,
                        help='indices of images in the --split dataset, one row each')
    parser.add_argument('--layer', default=None,
                        help='stage (layer3) or module path (backbone.layer3.2.conv2) '
                        "for Grad-CAM; default: the backbone's last stage")
    return parser


def class_name(index: int, names: Optional[List[str]]) -> str:
    """The name of a class, or its index when the names are unknown."""
    return names[index] if names is not None and index < len(names) else str(index)


def load_samples(cfg: Config, items: Sequence[Union[str, int]], split: str) -> tuple:
    """Packed samples of image files or dataset indices, and the class names.

    Args:
        cfg (Config): The model's config, its default scope entered.
        items (Sequence[str | int]): Image files, or indices into ``split``.
        split (str): The dataset split the indices refer to.

    Returns:
        tuple[list[dict], list[str] | None, list[str]]: The samples, the
        class names (of the dataset; None for files) and the row labels.
    """
    if isinstance(items[0], str):
        return ([load_image_file(cfg, path) for path in items], None,
                [osp.basename(path) for path in items])
    dataset = build_dataset(cfg, split)
    outside = [index for index in items if not 0 <= index < len(dataset)]
    if outside:
        raise AnalysisInputError(f'indices {outside} are outside the {split} dataset of '
                                 f'{len(dataset)} images')
    names = class_names(dataset)
    samples = [dataset[index] for index in items]
    labels = [f'#{index}: {class_name(int(sample["data_samples"].gt_label[0]), names)}'
              for index, sample in zip(items, samples)]
    return samples, names, labels


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Run the tool.

    Args:
        argv (Sequence[str], optional): Arguments; None reads ``sys.argv``.

    Returns:
        dict: The ``figure`` path and its ``layout``.
    """
    args = parse_args(build_parser(), argv)
    specs = parse_model_specs(args.models)
    items = args.images or args.indices
    # Every model, layer and image is checked before the work starts.
    models = []
    for config, checkpoint, _ in specs:
        model, cfg = load_model(config, checkpoint, args.cfg_options)
        _, layer = resolve_layer(model, args.layer)
        samples, names, row_labels = load_samples(cfg, items, args.split)
        models.append((model, layer, samples, names or (model.dataset_meta or {}).get('classes')))
    mkdir_or_exist(args.out_dir)
    explanations = [[] for _ in items]
    captions = [[] for _ in items]
    progress = ProgressBar(len(items) * len(specs))
    for model, layer, samples, names in models:
        for row, sample in enumerate(samples):
            explanation = explain(model, layer, sample['inputs'])
            explanations[row].append(explanation)
            captions[row].append(class_name(explanation.target, names))
            progress.update()
    figure_path = osp.join(args.out_dir, 'grad_cam.png')
    layout = cam_grid_figure(
        inputs=[row[0].image_rgb for row in explanations],
        cams=[[e.grad_cam for e in row] for row in explanations],
        guided=[[e.guided_backprop for e in row] for row in explanations],
        model_labels=[label for _, _, label in specs],
        row_labels=row_labels,
        cell_labels=captions,
        path=figure_path)
    print(f'\nwrote {figure_path}')
    return dict(figure=figure_path, layout=layout)


if __name__ == '__main__':
    run_tool(main)
