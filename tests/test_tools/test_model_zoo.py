"""tools/analysis/model_zoo.py and docs/model_zoo.md: one row per config, the
parameters HOGA adds, and the page measured again so that it cannot drift.

The HOGA parameter counts are checked against the parity table of
autola-method.md (section 1): 1,405 / 4,262 / 14,744 parameters at 16 / 32 /
64 channels, and 211,364 / 830,132 / 3,290,324 / 13,101,332 at 256 / 512 /
1024 / 2048.
"""
import re
from types import SimpleNamespace

import pytest
from tool_loading import load_tool
from tools_testkit import CONFIG_ROOT, REPO_ROOT

from autola_mm.analysis.complexity import count_parameters, get_flops

ZOO_PAGE = REPO_ROOT / 'docs' / 'model_zoo.md'
# Rows measured again by get_flops: every attention on CIFAR-10's ResNet-20,
# and the HOGA config of every other table (the rows the attention code moves).
REMEASURED = (
    'autola_cifar/resnet20_4xb64-cos500e_cifar10.py',
    'autola_cifar/resnet20-se_4xb64-cos500e_cifar10.py',
    'autola_cifar/resnet20-cbam_4xb64-cos500e_cifar10.py',
    'autola_cifar/resnet20-hoga_4xb64-cos500e_cifar10.py',
    'autola_cifar/resnet20-w64-hoga_4xb32-cos500e_cifar100.py',
    'autola_imagenet/resnet18-hoga_8xb32-step100e_in1k.py',
    'ssd/ssd300_r50-hoga_8xb16-65e_coco.py',
    'faster_rcnn_r50_fpn_hoga_1x.py',
    'simplebaseline/simplebaseline_r50-hoga_4xb32-140e_coco-256x192.py',
)

HOGA_PARAMS = {16: 1405, 32: 4262, 64: 14744, 256: 211364, 512: 830132, 1024: 3290324,
               2048: 13101332}


@pytest.fixture(scope='module')
def model_zoo():
    return load_tool('analysis/model_zoo')


def fake_count_params(config, cfg_options):
    """Parameters that encode the config: 1000 per name character, +7 with attention."""
    name = config.rsplit('/', 1)[-1]
    params = 1000 * len(re.sub(r'[-_](hoga|se|cbam)', '', name))
    if cfg_options != {'model.backbone.plugins': None}:
        params += 7 * bool(re.search(r'[-_](hoga|se|cbam)', name))
    if cfg_options and 'model.backbone.plugins.0.position' in cfg_options:
        params += {'after_conv2': 1, 'after_conv3': 2}[cfg_options[
            'model.backbone.plugins.0.position']]
    return params


def fake_count(config, shape, cfg_options):
    params = fake_count_params(config, cfg_options)
    return SimpleNamespace(params=params, flops=2 * params, input_shape=(1, 3) + (shape or (
        32, 32)))


def page_rows() -> dict:
    """Config (under configs/) to its line in docs/model_zoo.md."""
    rows = {}
    for line in ZOO_PAGE.read_text().splitlines():
        link = re.match(r'\| \[[^]]+\]\(\.\./configs/([^)]+)\)', line)
        if link:
            assert link.group(1) not in rows, f'two rows for {link.group(1)}'
            rows[link.group(1)] = line
    return rows


def test_every_config_gets_one_row_in_its_section(model_zoo):
    rows = model_zoo.zoo_rows(fake_count, fake_count_params)
    # The supplement's experiments; configs/search (the supernet) and
    # configs/demo (digits) are not models of the zoo.
    folders = ('autola_cifar', 'autola_imagenet', 'ssd', 'faster_rcnn', 'simplebaseline')
    configs = sorted(str(p.relative_to(CONFIG_ROOT)) for p in CONFIG_ROOT.rglob('*.py')
                     if p.parent == CONFIG_ROOT or p.relative_to(CONFIG_ROOT).parts[0] in folders)
    assert sorted(r.config for r in rows) == configs
    by_config = {r.config: r for r in rows}
    ssd = by_config['ssd/ssd300_r50-hoga_8xb16-65e_coco.py']
    assert (ssd.section, ssd.attention, ssd.input_shape) == ('COCO detection, SSD300', 'HOGA',
                                                              (300, 300))
    assert ssd.params - ssd.plain_params == 7
    assert by_config['ssd/ssd300_r50_8xb16-65e_coco.py'].plain_params is None
    # A config whose name has no plain sibling still gets its growth.
    top_level = by_config['faster_rcnn_r50_fpn_hoga_1x.py']
    assert (top_level.attention, top_level.params - top_level.plain_params) == ('HOGA', 7)
    assert by_config['autola_cifar/resnet56-w64-cbam_4xb32-cos500e_cifar100.py'].section == \
        'CIFAR-100'

    imagenet = [r.config.split('/')[1].split('_')[0] for r in rows if r.section == 'ImageNet-1k']
    assert imagenet[:8] == ['resnet18', 'resnet18-se', 'resnet18-cbam', 'resnet18-hoga',
                            'resnet34', 'resnet34-se', 'resnet34-cbam', 'resnet34-hoga']
    assert imagenet[-4:] == ['wrn50-2', 'wrn50-2-se', 'wrn50-2-cbam', 'wrn50-2-hoga']

    text = model_zoo.render(rows, model_zoo.placement_params(fake_count_params))
    assert text.count('| not trained here |') == len(configs)
    assert text.count('\n## ') == 7  # six result sections and the placement table
    line = next(t for t in text.splitlines() if '[ssd300_r50-hoga_8xb16-65e_coco.py]' in t)
    assert '| HOGA | 300x300 |' in line and '| +0.000 |' in line
    assert '| after_conv3 |' in text


def test_hoga_parameters_measured_by_get_flops(model_zoo):

    def count(config, shape, cfg_options):
        return get_flops(config, shape=(32, 32), cfg_options=cfg_options)

    sections = [('CIFAR-10', 'autola_cifar/resnet20*_cifar10.py', 'top-1 (%)', None)]
    rows = {r.config: r for r in model_zoo.zoo_rows(count, count_parameters, sections)}
    hoga = rows['autola_cifar/resnet20-hoga_4xb64-cos500e_cifar10.py']
    # ResNet-20: 3 basic blocks in each stage of 16, 32 and 64 channels.
    assert hoga.params - hoga.plain_params == 3 * (HOGA_PARAMS[16] + HOGA_PARAMS[32] +
                                                   HOGA_PARAMS[64])
    assert hoga.flops > rows['autola_cifar/resnet20_4xb64-cos500e_cifar10.py'].flops

    placements = model_zoo.placement_params(count_parameters)
    resnet50 = 25_557_032  # torchvision's ResNet-50 with its 1000-class fc
    # Bottlenecks: 3, 4, 6 and 3 blocks; conv3 outputs 256 .. 2048 channels,
    # conv2 a quarter of that (64 .. 512).
    assert placements['after_conv3'] - resnet50 == 63_000_560 == (
        3 * HOGA_PARAMS[256] + 4 * HOGA_PARAMS[512] + 6 * HOGA_PARAMS[1024] +
        3 * HOGA_PARAMS[2048])
    known_conv2 = 3 * HOGA_PARAMS[64] + 6 * HOGA_PARAMS[256] + 3 * HOGA_PARAMS[512]
    per_128_channel_hoga = (placements['after_conv2'] - resnet50 - known_conv2) / 4
    assert HOGA_PARAMS[64] < per_128_channel_hoga < HOGA_PARAMS[256]
    assert 3.9e6 < placements['after_conv2'] - resnet50 < 4.1e6  # "about 4M"


def test_the_page_has_every_config_and_the_growth_of_every_attention(model_zoo):
    rows = page_rows()
    configs = [str(config.relative_to(CONFIG_ROOT)) for _, config, _, _ in
               model_zoo.zoo_configs()]
    assert sorted(rows) == sorted(configs)
    for config, line in rows.items():
        cells = [cell.strip() for cell in line.strip('|').split('|')]
        attention, added = cells[1], cells[4]
        if attention == 'none':
            assert added == '-', line
        else:
            assert float(added) > 0, line


def test_the_page_matches_get_flops(model_zoo):
    """Rows of docs/model_zoo.md as the tool measures them now; when this fails,
    run `python tools/analysis/model_zoo.py` and commit docs/model_zoo.md."""
    rows = page_rows()

    def count(config, shape, cfg_options):
        return get_flops(config, shape=shape, cfg_options=cfg_options)

    for section, config, metric, shape in model_zoo.zoo_configs():
        relative = str(config.relative_to(CONFIG_ROOT))
        if relative in REMEASURED:
            row = model_zoo.measure_row(count, count_parameters, section, config, metric, shape)
            assert model_zoo.render_row(row) == rows[relative]
    placements = model_zoo.placement_params(count_parameters)
    plain = count_parameters(str(CONFIG_ROOT / model_zoo.PLACEMENT_CONFIG),
                             model_zoo.WITHOUT_ATTENTION)
    for position, params in placements.items():
        assert (f'| {position} | {params / 1e6:.3f} | {(params - plain) / 1e6:+.3f} |'
                in ZOO_PAGE.read_text().splitlines())
