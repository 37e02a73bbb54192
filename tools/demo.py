"""`make demo`: the whole AutoLA workflow on scikit-learn's digits, on a CPU.

Every step runs one of the project's own tools on the configs in
``configs/demo/``:

1. ``tools/dataset_converters/digits_to_cifar.py``: digits -> CIFAR-10 format;
2. ``tools/search.py``: a short AutoLA search, which writes ``genotype.json``;
3. ``tools/train.py`` and ``tools/test.py``: ResNet-20 with no attention, SE,
   CBAM, the published HOGA and the HOGA just searched;
4. ``tools/analysis/tsne.py`` and ``tools/analysis/class_selectivity.py``;

then writes ``work_dirs/demo/report.md`` (accuracy, parameters, FLOPs,
training images per second, the searched genotype, the figures) and prints
its table.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools' / 'analysis'))

MODELS = (
    ('ResNet-20', 'resnet20_digits.py'),
    ('+ SE', 'resnet20-se_digits.py'),
    ('+ CBAM', 'resnet20-cbam_digits.py'),
    ('+ HOGA (published)', 'resnet20-hoga_digits.py'),
    ('+ HOGA (searched here)', 'resnet20-hoga-searched_digits.py'),
)


def run(step: str, *command: str) -> None:
    """Run one tool, streaming its output; stop the demo if it fails."""
    print(f'\n==> [{time.strftime("%H:%M:%S")}] {step}', flush=True)
    result = subprocess.run([sys.executable, *command], cwd=ROOT)
    if result.returncode:
        sys.exit(f'make demo: {step} failed (exit {result.returncode}); '
                 'its output is above')


def json_log_records(work_dir: Path) -> list:
    """Records of the newest mmengine json log under ``work_dir``."""
    logs = sorted(work_dir.glob('*/vis_data/*.json'))
    if not logs:
        sys.exit(f'make demo: no json log under {work_dir}')
    return [json.loads(line) for line in logs[-1].read_text().splitlines()]


def train_images_per_second(work_dir: Path, batch_size: int) -> float:
    """Median training throughput from the logged iteration times."""
    times = [r['time'] for r in json_log_records(work_dir) if 'loss' in r]
    return batch_size / statistics.median(times)


def top1(work_dir: Path) -> float:
    """Top-1 accuracy (%) of the newest test log under ``work_dir``."""
    records = [r for r in json_log_records(work_dir) if 'accuracy/top1' in r]
    return records[-1]['accuracy/top1']


def main():
    parser = argparse.ArgumentParser(description='The AutoLA demo on digits.')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--cfg-options', nargs='*', default=[],
                        help='overrides for every train and search run, e.g. '
                        'train_cfg.max_epochs=1 for a quick check')
    args = parser.parse_args()
    from get_flops import get_flops

    work = ROOT / args.work_dir
    overrides = (['--cfg-options', *args.cfg_options] if args.cfg_options else [])
    run('convert the digits to the CIFAR-10 format',
        'tools/dataset_converters/digits_to_cifar.py', str(work / 'data'))
    run('search a HOGA on the digits', 'tools/search.py',
        'configs/demo/autola_resnet20_digits.py', '--work-dir', str(work / 'search'),
        *overrides)
    genotype = json.loads((work / 'search' / 'genotype.json').read_text())

    rows = []
    for label, config_name in MODELS:
        config = f'configs/demo/{config_name}'
        model_dir = work / Path(config_name).stem
        run(f'train {label}', 'tools/train.py', config, '--work-dir', str(model_dir),
            *overrides)
        checkpoint = max(model_dir.glob('epoch_*.pth'), key=lambda p: p.stat().st_mtime)
        run(f'test {label}', 'tools/test.py', config, str(checkpoint), '--work-dir',
            str(model_dir / 'test'))
        complexity = get_flops(config)
        rows.append(dict(label=label, config=config, checkpoint=checkpoint,
                         top1=top1(model_dir / 'test'), params=complexity.params,
                         flops=complexity.flops,
                         speed=train_images_per_second(model_dir, 64)))

    figures = work / 'figures'
    models = [arg for row in rows
              for arg in ('--model', row['config'], str(row['checkpoint']), row['label'])]
    run('t-SNE of the last stage', 'tools/analysis/tsne.py', *models, '--out-dir',
        str(figures / 'tsne'))
    run('class selectivity per stage', 'tools/analysis/class_selectivity.py', *models,
        '--out-dir', str(figures / 'selectivity'))

    table = ['| model | top-1 (%) | parameters | FLOPs | train images/s |',
             '| --- | --- | --- | --- | --- |']
    table += [f"| {r['label']} | {r['top1']:.2f} | {r['params']:,} | {r['flops'] / 1e6:.1f}M "
              f"| {r['speed']:.0f} |" for r in rows]
    pngs = sorted(figures.rglob('*.png'))
    report = '\n'.join([
        '# AutoLA demo on the digits', '',
        f'{time.strftime("%Y-%m-%d %H:%M")}, `make demo`', '', *table, '',
        '## Searched genotype', '', '```json', json.dumps(genotype, indent=1), '```', '',
        '## Figures', '', *[f'- [{p.relative_to(work)}]({p.relative_to(work)})' for p in pngs]])
    (work / 'report.md').write_text(report + '\n')
    print('\n'.join(['', *table, '', f'report: {work / "report.md"}']))


if __name__ == '__main__':
    main()
