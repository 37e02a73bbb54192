"""Class selectivity of every channel, stage by stage, for several models.

The class-selectivity analysis of AutoLA's supplement (Ma et al., NeurIPS
2020; index of Morcos et al., ICLR 2018): one histogram per stage, one curve
per model, from the class-conditional mean activations of every channel over
a dataset split. Writes ``class_selectivity.csv`` (model, stage, channel,
index) and ``class_selectivity.png`` to ``--out-dir``.

Example::

    python tools/analysis/class_selectivity.py \
        --model configs/plain.py work_dirs/plain/epoch_100.pth plain \
        --model configs/hoga.py work_dirs/hoga/epoch_100.pth HOGA \
        --stages layer1 layer2 layer3 --max-samples 5000
"""
import argparse
import csv
import os.path as osp
from typing import Optional, Sequence

from mmengine.utils import mkdir_or_exist

from autola_mm.analysis import (add_data_arguments, add_model_arguments,
                                build_dataloader, class_names, load_model,
                                measure_class_selectivity, parse_args,
                                parse_model_specs, run_tool, select_stages,
                                selectivity_figure)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_model_arguments(parser)
    add_data_arguments(parser)
    parser.add_argument('--stages', nargs='+', default=None,
                        help="stages to analyse; default: every stage of the backbone "
                        '(layer1..layer4, layer1..layer3 for CIFAR ResNets)')
    return parser


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Run the tool.

    Args:
        argv (Sequence[str], optional): Arguments; None reads ``sys.argv``.

    Returns:
        dict: ``csv`` and ``figure`` paths, the figure ``layout`` and the
        ``indices`` (model label to stage to (C,) array).
    """
    args = parse_args(build_parser(), argv)
    # Every model, stage and split is checked before the work starts.
    runs = []
    for config, checkpoint, label in parse_model_specs(args.models):
        model, cfg = load_model(config, checkpoint, args.cfg_options)
        stages = select_stages(model, args.stages)
        runs.append((label, model, stages, build_dataloader(cfg, args.split, args.max_samples)))
    mkdir_or_exist(args.out_dir)
    indices = {}
    for label, model, stages, loader in runs:
        print(f'\nclass selectivity of {label} on {len(loader.dataset)} images')
        per_stage = measure_class_selectivity(model, loader, stages,
                                              len(class_names(loader.dataset)))
        indices[label] = {stage: index.numpy() for stage, index in per_stage.items()}

    csv_path = osp.join(args.out_dir, 'class_selectivity.csv')
    with open(csv_path, 'w', newline='') as file:
        writer = csv.writer(file)
        writer.writerow(['model', 'stage', 'channel', 'index'])
        for label, per_stage in indices.items():
            for stage, values in per_stage.items():
                writer.writerows([label, stage, channel, f'{value:.6f}']
                                 for channel, value in enumerate(values))
    figure_path = osp.join(args.out_dir, 'class_selectivity.png')
    layout = selectivity_figure(indices, figure_path)
    print(f'\nwrote {csv_path} and {figure_path}')
    return dict(csv=csv_path, figure=figure_path, layout=layout, indices=indices)


if __name__ == '__main__':
    run_tool(main)
