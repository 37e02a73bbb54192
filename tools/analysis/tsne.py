"""Barnes-Hut t-SNE of a stage's pooled features, one scatter per model.

The t-SNE analysis of AutoLA's supplement (Ma et al., NeurIPS 2020): the
globally average-pooled output of one backbone stage (default: the last) for
every image of a split, embedded in 2-D and coloured by class. Writes, per
model, ``tsne_<label>_<stage>.png``, the embedding
``tsne_<label>_<stage>.npy`` (N, 2) and its labels
``tsne_<label>_<stage>_labels.npy`` (N,) to ``--out-dir``.

Example::

    python tools/analysis/tsne.py \
        --model configs/plain.py work_dirs/plain/epoch_100.pth plain \
        --model configs/hoga.py work_dirs/hoga/epoch_100.pth HOGA \
        --max-samples 2000 --perplexity 30
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from mmengine.utils import mkdir_or_exist

from autola_mm.analysis import (add_data_arguments, add_model_arguments,
                                barnes_hut_tsne, build_dataloader,
                                check_perplexity, class_names, load_model,
                                parse_args, parse_model_specs,
                                pooled_stage_features, run_tool,
                                select_stages, tsne_figure)
from autola_mm.analysis.tsne import BACKENDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_model_arguments(parser)
    add_data_arguments(parser)
    parser.add_argument('--stage', default=None,
                        help="the stage to embed; default: the backbone's last")
    parser.add_argument('--perplexity', type=float, default=30.0,
                        help='t-SNE perplexity (needs more than 3x as many images); '
                        'default: 30')
    parser.add_argument('--backend', default='opentsne', choices=BACKENDS,
                        help='Barnes-Hut t-SNE from openTSNE or scikit-learn; '
                        'default: opentsne')
    parser.add_argument('--seed', type=int, default=0, help='t-SNE seed; default: 0')
    return parser


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Run the tool.

    Args:
        argv (Sequence[str], optional): Arguments; None reads ``sys.argv``.

    Returns:
        dict: Model label to a dict of ``figure``, ``embedding`` and
        ``labels`` paths, the figure ``layout`` and the ``stage``.
    """
    args = parse_args(build_parser(), argv)
    # Every model, stage and split is checked before the work starts.
    runs = []
    for config, checkpoint, label in parse_model_specs(args.models):
        model, cfg = load_model(config, checkpoint, args.cfg_options)
        stages = select_stages(model, None if args.stage is None else [args.stage])
        stage, stage_module = next(reversed(stages.items()))
        loader = build_dataloader(cfg, args.split, args.max_samples)
        check_perplexity(args.perplexity, len(loader.dataset))
        runs.append((label, model, stage, stage_module, loader))
    mkdir_or_exist(args.out_dir)
    outputs = {}
    for label, model, stage, stage_module, loader in runs:
        print(f'\n{stage} features of {label} on {len(loader.dataset)} images')
        features, labels = pooled_stage_features(model, loader, stage, stage_module)
        embedding = barnes_hut_tsne(features, args.perplexity, args.seed, args.backend)
        stem = osp.join(args.out_dir, f'tsne_{label}_{stage}')
        np.save(f'{stem}.npy', embedding)
        np.save(f'{stem}_labels.npy', labels)
        layout = tsne_figure(embedding, labels, class_names(loader.dataset),
                             f'{label}: t-SNE of {stage}', f'{stem}.png')
        print(f'wrote {stem}.png, {stem}.npy and {stem}_labels.npy')
        outputs[label] = dict(figure=f'{stem}.png', embedding=f'{stem}.npy',
                              labels=f'{stem}_labels.npy', layout=layout, stage=stage)
    return outputs


if __name__ == '__main__':
    run_tool(main)
