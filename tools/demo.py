"""`make demo`: the whole AutoLA workflow on scikit-learn's digits, on a CPU.

Every step runs one of the project's own tools on the configs in
``configs/demo/``:

1. ``tools/dataset_converters/digits_to_cifar.py``: digits -> CIFAR-10 format;
2. ``tools/search.py``: a short AutoLA search, which writes ``genotype.json``;
3. ``tools/train.py``: ResNet-20 with no attention, SE, CBAM, the published
   HOGA and the HOGA just searched, once per ``--seeds`` entry (default: the
   configs' seed, 0); each training ends with a validation on the test
   digits, its top-1; ``tools/test.py`` evaluates the checkpoint of the first
   seed again and must give the same top-1;
4. ``tools/analysis/tsne.py``, ``tools/analysis/class_selectivity.py`` and
   ``tools/analysis/visualize_cam.py`` on the models of the first seed;

then writes ``<work-dir>/report.md`` (accuracy, parameters, FLOPs, training
images per second, the searched genotype, the figures) and prints its table.
With several seeds the table gives each model's mean top-1 and its sample
standard deviation over the seeds, and every seed's top-1: how much the
accuracies of this small run move with the seed. ``--max-images``,
``--epochs`` and ``--search-epochs`` shrink the run (the test suite runs it
with a few iterations); ``--to-readme`` copies the table of an existing report
into the README.

Examples:
    python tools/demo.py
    python tools/demo.py --seeds 0 1 2     # the trainings three times (one search)
    python tools/demo.py --work-dir work_dirs/demo_quick --max-images 64 --epochs 1
    python tools/demo.py --to-readme README.md
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.config import Config

from autola_mm.analysis.complexity import get_flops
from autola_mm.models.attention import Genotype

ROOT = Path(__file__).resolve().parents[1]

SEARCH_CONFIG = 'configs/demo/autola_resnet20_digits.py'
# Row label, short name (figure labels and file names), config in configs/demo.
MODELS = (
    ('ResNet-20', 'plain', 'resnet20_digits.py'),
    ('+ SE', 'SE', 'resnet20-se_digits.py'),
    ('+ CBAM', 'CBAM', 'resnet20-cbam_digits.py'),
    ('+ HOGA (published)', 'HOGA', 'resnet20-hoga_digits.py'),
    ('+ HOGA (searched here)', 'HOGA-searched', 'resnet20-hoga-searched_digits.py'),
)
SEARCHED_CONFIG = MODELS[-1][2]
TRAIN_BATCH_SIZE = 64
# Test digits whose Grad-CAM the report draws.
CAM_INDICES = ('0', '1', '2', '3')
README_START = '<!-- demo table: written by `python tools/demo.py --to-readme README.md` -->'
README_END = '<!-- end of demo table -->'


class Steps:
    """Runs the tools one after the other, with the elapsed time of each."""

    def __init__(self):
        self.start = time.monotonic()

    def run(self, step: str, *command: str) -> None:
        """Run one tool, streaming its output; stop the demo if it fails."""
        elapsed = time.monotonic() - self.start
        print(f'\n==> [{elapsed / 60:5.1f} min] {step}', flush=True)
        result = subprocess.run([sys.executable, *command], cwd=ROOT)
        if result.returncode:
            sys.exit(f'make demo: {step} failed (exit {result.returncode}); '
                     'its output is above')

    def minutes(self) -> float:
        """Minutes since the demo started."""
        return (time.monotonic() - self.start) / 60


def json_log_records(work_dir: Path) -> List[dict]:
    """Records of the newest mmengine json log under ``work_dir``.

    A run's log is ``<timestamp>/vis_data/<timestamp>.json`` when it trains
    and ``<timestamp>/<timestamp>.json`` when it only tests.
    """
    logs = [log for run in sorted(work_dir.glob('*_*/')) for log in (
        run / 'vis_data' / f'{run.name}.json', run / f'{run.name}.json') if log.is_file()]
    if not logs:
        sys.exit(f'make demo: no json log under {work_dir}')
    return [json.loads(line) for line in logs[-1].read_text().splitlines()]


def train_images_per_second(work_dirs: Sequence[Path]) -> float:
    """Median training throughput over the logged iteration times of some runs."""
    times = [r['time'] for work_dir in work_dirs for r in json_log_records(work_dir)
             if 'loss' in r]
    if not times:
        sys.exit(f'make demo: the training logs under {", ".join(map(str, work_dirs))} have '
                 'no iteration; lower the logger interval or train longer')
    return TRAIN_BATCH_SIZE / statistics.median(times)


def top1(work_dir: Path) -> float:
    """Top-1 accuracy (%) of the newest run under ``work_dir``: a test, or a
    training's last validation (the demo validates on the test digits)."""
    records = [r for r in json_log_records(work_dir) if 'accuracy/top1' in r]
    return records[-1]['accuracy/top1']


def configs_seed() -> int:
    """``randomness.seed`` of the demo's training configs."""
    return Config.fromfile(str(ROOT / 'configs' / 'demo' / MODELS[0][2])).randomness.seed


def model_title(label: str) -> str:
    """A model's name in the progress lines: ``ResNet-20``, ``ResNet-20 + SE``, ..."""
    return label if label == MODELS[0][0] else f'{MODELS[0][0]} {label}'


def run_dir(work: Path, config_name: str, seed: int) -> Path:
    """Work dir of one training: ``<config>`` for the configs' seed, else ``<config>-seed<N>``."""
    stem = Path(config_name).stem
    return work / (stem if seed == configs_seed() else f'{stem}-seed{seed}')


def data_options(data_root: Path, max_images: Optional[int],
                 loaders: Sequence[str] = ('train', 'val', 'test')) -> List[str]:
    """``--cfg-options`` entries that point the ``loaders`` at ``data_root``."""
    options = []
    for loader in (f'{split}_dataloader' for split in loaders):
        options.append(f'{loader}.dataset.data_root={data_root}')
        if max_images is not None:
            options.append(f'{loader}.dataset.indices={max_images}')
    return options


def machine() -> str:
    """The CPU, its cores and the software the demo ran with, in one line."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path('/proc/cpuinfo')
    if cpuinfo.is_file():
        names = re.findall(r'^model name\s*:\s*(.+)$', cpuinfo.read_text(), re.MULTILINE)
        cpu = names[0] if names else cpu
    return (f'{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, '
            f'Python {platform.python_version()}, torch {torch.__version__}')


def report_table(rows: Sequence[Dict], seeds: Sequence[int]) -> List[str]:
    """The Markdown table of the report, one row per model.

    Args:
        rows (Sequence[dict]): Per model ``label``, ``top1`` (one top-1 in
            percent per seed), ``params``, ``flops`` and ``speed``.
        seeds (Sequence[int]): The training seeds, in the order of ``top1``.

    Returns:
        list[str]: The table's lines. With several seeds, top-1 is the mean
        with the sample standard deviation, then every seed's value.
    """
    if len(seeds) == 1:
        table = ['| model | top-1 (%) | parameters | FLOPs | train images/s |',
                 '| --- | --- | --- | --- | --- |']
        accuracy = [f"{r['top1'][0]:.2f}" for r in rows]
    else:
        table = [f'| model | top-1 (%), mean ± sd | seeds {", ".join(map(str, seeds))} '
                 '| parameters | FLOPs | train images/s |',
                 '| --- | --- | --- | --- | --- | --- |']
        accuracy = [f"{statistics.mean(r['top1']):.2f} ± {statistics.stdev(r['top1']):.2f} | "
                    + ', '.join(f'{value:.2f}' for value in r['top1']) for r in rows]
    table += [f"| {r['label']} | {top1} | {r['params']:,} | {r['flops'] / 1e6:.1f}M "
              f"| {r['speed']:.0f} |" for r, top1 in zip(rows, accuracy)]
    return table


def run_summary(seeds: Sequence[int], minutes: float) -> str:
    """The report's first sentence: what ran, when, how long, on what."""
    trainings = ('' if len(seeds) == 1 else
                 f' (`--seeds {" ".join(map(str, seeds))}`: one search, then every model '
                 'trained once per seed)')
    return (f'`make demo`{trainings} on {time.strftime("%Y-%m-%d")}, {minutes:.1f} min on '
            f'{machine()}.')


def copy_table_to_readme(report: Path, readme: Path) -> None:
    """Replace the demo block of ``readme`` with the header and table of ``report``."""
    if not report.is_file():
        sys.exit(f'make demo: {report} does not exist; run `make demo` first')
    lines = report.read_text().splitlines()
    table_end = next(i for i in range(len(lines)) if i > 4 and not lines[i].startswith('|'))
    block = '\n'.join([README_START, *lines[2:table_end], README_END])
    text = readme.read_text()
    pattern = re.compile(re.escape(README_START) + '.*?' + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        sys.exit(f'make demo: {readme} has no demo block; add the two lines\n'
                 f'{README_START}\n{README_END}\nwhere the table belongs')
    readme.write_text(pattern.sub(lambda _: block, text))
    print(f'copied the table of {report} into {readme}')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='The AutoLA demo on the digits.')
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help='where the data, runs, figures and report go')
    parser.add_argument('--max-images', type=int, default=None,
                        help='use the first N images of each split (a quick check)')
    parser.add_argument('--epochs', type=int, default=None,
                        help="training epochs of each model; default: the configs'")
    parser.add_argument('--search-epochs', type=int, default=None,
                        help="search epochs; default: the search config's")
    parser.add_argument('--seeds', type=int, nargs='+', default=None, metavar='SEED',
                        help='train and test every model once per seed (randomness.seed); '
                        "the report gives mean and spread; default: the configs' seed")
    parser.add_argument('--to-readme', metavar='README',
                        help="only copy the existing report's table into README")
    args = parser.parse_args(argv)
    for name in ('max_images', 'epochs', 'search_epochs'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.seeds is not None and len(set(args.seeds)) < len(args.seeds):
        parser.error(f'--seeds repeats a seed: {" ".join(map(str, args.seeds))}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> Path:
    """Run the demo; returns the path of the report."""
    args = parse_args(argv)
    work = (ROOT / args.work_dir).resolve()
    if args.to_readme:
        copy_table_to_readme(work / 'report.md', Path(args.to_readme))
        return work / 'report.md'
    steps = Steps()
    data = work / 'data'
    data_args = data_options(data, args.max_images)
    steps.run('convert the digits to the CIFAR-10 format',
              'tools/dataset_converters/digits_to_cifar.py', str(data))

    search_options = data_options(data, args.max_images, loaders=('train', ))
    if args.search_epochs is not None:
        search_options.append(f'train_cfg.max_epochs={args.search_epochs}')
    steps.run('search a HOGA on the digits', 'tools/search.py', SEARCH_CONFIG,
              '--work-dir', str(work / 'search'), '--cfg-options', *search_options)
    genotype_file = work / 'search' / 'genotype.json'
    genotype = Genotype.from_json(genotype_file)

    seeds = args.seeds or [configs_seed()]
    rows = []
    for number, (label, name, config_name) in enumerate(MODELS):
        config = f'configs/demo/{config_name}'
        model_options = ({'model.backbone.plugins.0.cfg.genotype': str(genotype_file)}
                         if config_name == SEARCHED_CONFIG else {})
        options = data_args + [f'{key}={value}' for key, value in model_options.items()]
        epochs = [f'train_cfg.max_epochs={args.epochs}'] if args.epochs is not None else []
        checkpoints, top1s = [], []
        for seed_number, seed in enumerate(seeds):
            model_dir = run_dir(work, config_name, seed)
            run = model_title(label) + ('' if len(seeds) == 1 else (
                f', seed {seed} (training {number * len(seeds) + seed_number + 1} of '
                f'{len(MODELS) * len(seeds)})'))
            steps.run(f'train {run}', 'tools/train.py', config, '--work-dir', str(model_dir),
                      '--cfg-options', *options, *epochs, f'randomness.seed={seed}')
            checkpoints.append(max(model_dir.glob('epoch_*.pth'),
                                   key=lambda path: path.stat().st_mtime))
            # The last epoch validates on the test digits with the weights saved.
            top1s.append(top1(model_dir))
        steps.run(f'test {model_title(label)}, seed {seeds[0]}', 'tools/test.py', config,
                  str(checkpoints[0]), '--work-dir', str(checkpoints[0].parent / 'test'),
                  '--cfg-options', *options)
        tested = top1(checkpoints[0].parent / 'test')
        if tested != top1s[0]:
            sys.exit(f'make demo: tools/test.py gives {tested} % top-1 for {checkpoints[0]}, '
                     f'its training validated it at {top1s[0]} %: the checkpoint did not load '
                     'the weights that were trained')
        complexity = get_flops(config, cfg_options=model_options)
        rows.append(dict(label=label, name=name, config=config, checkpoint=checkpoints[0],
                         top1=top1s, params=complexity.params, flops=complexity.flops,
                         speed=train_images_per_second([c.parent for c in checkpoints])))

    figures = work / 'figures'
    # The configs as trained (first seed), with the data root and genotype written in.
    models = [arg for row in rows for arg in (
        '--model', str(row['checkpoint'].parent / Path(row['config']).name),
        str(row['checkpoint']), row['name'])]
    perplexity = '30' if args.max_images is None else str(max(1, (args.max_images - 1) // 4))
    steps.run('t-SNE of the last stage', 'tools/analysis/tsne.py', *models,
              '--perplexity', perplexity, '--out-dir', str(figures / 'tsne'))
    steps.run('class selectivity per stage', 'tools/analysis/class_selectivity.py', *models,
              '--out-dir', str(figures / 'selectivity'))
    steps.run('Grad-CAM and guided backpropagation', 'tools/analysis/visualize_cam.py',
              *models, '--indices', *CAM_INDICES, '--out-dir', str(figures / 'grad_cam'))

    table = report_table(rows, seeds)
    pngs = sorted(figures.rglob('*.png')) + sorted((work / 'search').glob('*.png'))
    report = '\n'.join([
        '# AutoLA demo on the digits', '',
        run_summary(seeds, steps.minutes()),
        '', *table, '',
        '## Searched genotype', '',
        f'`{genotype_file.relative_to(work)}`, node by node as operation:input (input 0 is '
        "the node's own channel group, input k the output of node k):", '',
        *[f'{i}. {node}' for i, node in enumerate(str(genotype).split(' | '), start=1)], '',
        '## Figures', '', *[f'- [{p.relative_to(work)}]({p.relative_to(work)})' for p in pngs]])
    report_file = work / 'report.md'
    report_file.write_text(report + '\n')
    print('\n'.join(['', *table, '', f'{steps.minutes():.1f} min; report: {report_file}']))
    return report_file


if __name__ == '__main__':
    main()
