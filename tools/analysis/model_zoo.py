"""Write the model zoo table of AutoLA (Ma et al., "Auto Learning Attention", NeurIPS 2020).

One row per experiment config of the supplement in ``configs/`` (not the
search supernet of ``configs/search`` nor the digits demo of
``configs/demo``): parameters and FLOPs from
``tools/analysis/get_flops.py`` at the experiment's input size, the growth
over the same model without attention (the config built with
``model.backbone.plugins=None``), the metric the paper reports where it
gives one, and the metric we measured (none of these models has been
trained here yet). ``tests/test_tools/test_model_zoo.py`` measures rows of
``docs/model_zoo.md`` again and fails when the table no longer matches.

Example:
    python tools/analysis/model_zoo.py              # writes docs/model_zoo.md
    python tools/analysis/model_zoo.py --out /tmp/zoo.md
"""
import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from autola_mm.analysis.complexity import count_parameters, get_flops

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_ROOT = REPO_ROOT / 'configs'
NOT_TRAINED = 'not trained here'
NOT_REPORTED = '-'
ATTENTION_ORDER = ('none', 'SE', 'CBAM', 'HOGA')
# The same model without its attention plugins.
WITHOUT_ATTENTION = {'model.backbone.plugins': None}

# (title, config glob under configs/, metric, input (H, W) or None for
# get_flops's default for the config).
SECTIONS = [
    ('CIFAR-10', 'autola_cifar/*_cifar10.py', 'top-1 (%)', None),
    ('CIFAR-100', 'autola_cifar/*_cifar100.py', 'top-1 (%)', None),
    ('ImageNet-1k', 'autola_imagenet/*.py', 'top-1 (%)', None),
    ('COCO detection, SSD300', 'ssd/*.py', 'box AP', (300, 300)),
    ('COCO detection, Faster R-CNN + FPN', 'faster_rcnn/*.py', 'box AP', None),
    ('COCO detection, Faster R-CNN + FPN', 'faster_rcnn_*.py', 'box AP', None),
    ('COCO keypoints, SimpleBaseline 256x192', 'simplebaseline/*.py', 'AP', None),
]

# Where HOGA sits in a bottleneck: the ImageNet ResNet-50 + HOGA config with
# the plugin after each position.
PLACEMENT_CONFIG = 'autola_imagenet/resnet50-hoga_8xb32-step100e_in1k.py'
PLACEMENTS = ('after_conv2', 'after_conv3')

# Metrics the AutoLA paper reports, by config path under configs/. Only
# numbers read from the paper belong here; configs without one show "-".
PAPER_METRICS: Dict[str, str] = {}

# Metrics measured with this repository, by config path under configs/.
MEASURED_METRICS: Dict[str, str] = {}


@dataclass
class ZooRow:
    """One config's line in the model zoo."""
    section: str
    config: str
    attention: str
    input_shape: Tuple[int, int]
    params: int
    flops: int
    plain_params: Optional[int]  # without attention; None for a model without
    metric: str


def attention_of(config: Path) -> str:
    """The attention a config's name announces: SE, CBAM, HOGA or none."""
    found = re.findall(r'(?<![a-z])(se|cbam|hoga)(?![a-z])', config.stem)
    return found[0].upper() if found else 'none'


def display_order(config: Path) -> tuple:
    """Sort key: backbones by depth (natural order), then none, SE, CBAM, HOGA."""
    plain_stem = re.sub(r'[-_](se|cbam|hoga)(?=[-_])', '', config.stem)
    plain = [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', plain_stem)]
    return plain, ATTENTION_ORDER.index(attention_of(config))


def measure_row(count: Callable, count_params: Callable, section: str, config: Path,
                metric: str, shape: Optional[Tuple[int, int]]) -> ZooRow:
    """Measure one config.

    Args:
        count (Callable): ``count(config_path, shape, cfg_options)``
            returning an object with ``params``, ``flops`` and
            ``input_shape`` (1, 3, H, W), as ``get_flops`` does.
        count_params (Callable): ``count_params(config_path, cfg_options)``
            returning the number of parameters, as ``count_parameters`` does.
        section (str): Title of the config's table.
        config (Path): The config file under ``configs/``.
        metric (str): The section's metric.
        shape (tuple[int, int], optional): Input (H, W); None: the config's.

    Returns:
        ZooRow: The row; ``plain_params`` counts the config's model with
        ``model.backbone.plugins=None`` when its name announces attention.
    """
    result = count(str(config), shape, None)
    attention = attention_of(config)
    plain_params = (None if attention == 'none' else count_params(str(config),
                                                                  WITHOUT_ATTENTION))
    return ZooRow(section, str(config.relative_to(CONFIG_ROOT)), attention,
                  tuple(result.input_shape[2:]), result.params, result.flops, plain_params,
                  metric)


def zoo_configs(sections=SECTIONS) -> List[Tuple[str, Path, str, Optional[Tuple[int, int]]]]:
    """Every config of every section, in section order and :func:`display_order`.

    Args:
        sections (list): ``(title, glob, metric, shape)`` entries.

    Returns:
        list[tuple]: ``(title, config, metric, shape)`` per config.
    """
    entries = []
    for title, pattern, metric, shape in sections:
        configs = sorted(CONFIG_ROOT.glob(pattern), key=display_order)
        if not configs:
            raise FileNotFoundError(f'no config matches configs/{pattern}')
        entries += [(title, config, metric, shape) for config in configs]
    return entries


def zoo_rows(count: Callable, count_params: Callable, sections=SECTIONS) -> List[ZooRow]:
    """Measure every config of every section (see :func:`measure_row`)."""
    return [measure_row(count, count_params, title, config, metric, shape)
            for title, config, metric, shape in zoo_configs(sections)]


def placement_params(count_params: Callable) -> Dict[str, int]:
    """Parameters of ImageNet ResNet-50 + HOGA for each plugin position."""
    config = str(CONFIG_ROOT / PLACEMENT_CONFIG)
    return {
        position: count_params(config, {'model.backbone.plugins.0.position': position})
        for position in PLACEMENTS
    }


def section_header(metric: str) -> List[str]:
    """The header lines of a section's table."""
    return [f'| config | attention | input | params (M) | added (M) | FLOPs (G) '
            f'| paper {metric} | ours {metric} |',
            '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |']


def render_row(row: ZooRow) -> str:
    """One config's line of the table."""
    added = (f'{(row.params - row.plain_params) / 1e6:+.3f}'
             if row.plain_params is not None else NOT_REPORTED)
    return (f'| [{Path(row.config).name}](../configs/{row.config}) | {row.attention} '
            f'| {row.input_shape[0]}x{row.input_shape[1]} | {row.params / 1e6:.3f} | {added} '
            f'| {row.flops / 1e9:.3f} | {PAPER_METRICS.get(row.config, NOT_REPORTED)} '
            f'| {MEASURED_METRICS.get(row.config, NOT_TRAINED)} |')


def render(rows: Sequence[ZooRow], placements: Dict[str, int]) -> str:
    """The model zoo as Markdown: one table per section, then HOGA's placement."""
    lines = [
        '# Model zoo',
        '',
        'Every experiment config of the AutoLA supplement in `configs/`, generated by '
        '`tools/analysis/model_zoo.py` '
        'with `tools/analysis/get_flops.py` (one FLOP is one multiply-add; the input is one '
        'image of the size given). "Added" is the growth in parameters over the same model '
        'without attention (the config with `model.backbone.plugins=None`). SE, CBAM and HOGA '
        'sit after conv2 of every residual block, in every stage (see the last table for '
        'why). `tests/test_tools/test_model_zoo.py` measures rows of this page again, so it '
        'cannot drift from the configs.',
        '',
        f'"Paper" is the metric the AutoLA paper reports ({NOT_REPORTED}: the supplement, the '
        "copy of the paper this project starts from, gives no metrics; it refers to the main "
        "paper's tables, which go into `PAPER_METRICS` of `tools/analysis/model_zoo.py`); "
        '"ours" is the metric measured with this repository (the full schedules need GPUs).',
    ]
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            lines += ['', f'## {section}', '', *section_header(row.metric)]
        lines.append(render_row(row))
    plain = next(r.plain_params for r in rows if r.config == PLACEMENT_CONFIG)
    lines += [
        '', '## Where HOGA sits in a bottleneck', '',
        f'ImageNet ResNet-50 + HOGA ([{Path(PLACEMENT_CONFIG).name}](../configs/'
        f'{PLACEMENT_CONFIG})) with the plugin at each position of every bottleneck. HOGA\'s '
        'two C x C projections grow with the square of the channels, and conv3 has four '
        'times the channels of conv2.', '',
        '| position | params (M) | added by HOGA (M) |', '| --- | ---: | ---: |'
    ]
    for position, params in placements.items():
        lines.append(f'| {position} | {params / 1e6:.3f} | {(params - plain) / 1e6:+.3f} |')
    return '\n'.join(lines) + '\n'


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description='Write the AutoLA model zoo table')
    parser.add_argument('--out', default=str(REPO_ROOT / 'docs' / 'model_zoo.md'),
                        help='Markdown file to write (default: docs/model_zoo.md)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Measure every config and write the table."""
    args = parse_args(argv)

    def count(config: str, shape, cfg_options):
        print(f'measuring {config} {cfg_options or ""}', flush=True)
        return get_flops(config, shape=shape, cfg_options=cfg_options)

    def count_params(config: str, cfg_options):
        print(f'counting the parameters of {config} {cfg_options}', flush=True)
        return count_parameters(config, cfg_options)

    rows = zoo_rows(count, count_params)
    Path(args.out).write_text(render(rows, placement_params(count_params)))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
