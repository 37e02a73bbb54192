"""tools/analysis/model_zoo.py: one row per config, the parameters HOGA adds.

The HOGA parameter counts are checked against the parity table of
autola-method.md (section 1): 1,405 / 4,262 / 14,744 parameters at 16 / 32 /
64 channels, and 211,364 / 830,132 / 3,290,324 / 13,101,332 at 256 / 512 /
1024 / 2048.
"""
from types import SimpleNamespace

import pytest
from tool_loading import load_tool
from tools_testkit import CONFIG_ROOT

from autola_mm.analysis.complexity import get_flops

HOGA_PARAMS = {16: 1405, 32: 4262, 64: 14744, 256: 211364, 512: 830132, 1024: 3290324,
               2048: 13101332}


@pytest.fixture(scope='module')
def model_zoo():
    return load_tool('analysis/model_zoo')


def fake_count(config, shape, cfg_options):
    """Parameters that encode the config: 1000 per name character, +7 with attention."""
    name = config.rsplit('/', 1)[-1]
    params = 1000 * len(name.replace('-hoga', '').replace('-se', '').replace('-cbam', ''))
    params += 7 * any(a in name for a in ('-hoga', '-se', '-cbam'))
    if cfg_options:
        params += {'after_conv2': 1, 'after_conv3': 2}[cfg_options[
            'model.backbone.plugins.0.position']]
    return SimpleNamespace(params=params, flops=2 * params, input_shape=(1, 3) + (shape or (
        32, 32)))


def test_every_config_gets_one_row_in_its_section(model_zoo):
    rows = model_zoo.zoo_rows(fake_count)
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
    assert by_config['autola_cifar/resnet56-w64-cbam_4xb32-cos500e_cifar100.py'].section == \
        'CIFAR-100'

    imagenet = [r.config.split('/')[1].split('_')[0] for r in rows if r.section == 'ImageNet-1k']
    assert imagenet[:8] == ['resnet18', 'resnet18-se', 'resnet18-cbam', 'resnet18-hoga',
                            'resnet34', 'resnet34-se', 'resnet34-cbam', 'resnet34-hoga']
    assert imagenet[-4:] == ['wrn50-2', 'wrn50-2-se', 'wrn50-2-cbam', 'wrn50-2-hoga']

    text = model_zoo.render(rows, model_zoo.placement_params(fake_count))
    assert text.count('| not trained here |') == len(configs)
    assert text.count('\n## ') == 7  # six result sections and the placement table
    line = next(t for t in text.splitlines() if '[ssd300_r50-hoga_8xb16-65e_coco.py]' in t)
    assert '| HOGA | 300x300 |' in line and '| +0.000 |' in line
    assert '| after_conv3 |' in text


def test_hoga_parameters_measured_by_get_flops(model_zoo):

    def count(config, shape, cfg_options):
        return get_flops(config, shape=(32, 32), cfg_options=cfg_options)

    sections = [('CIFAR-10', 'autola_cifar/resnet20*_cifar10.py', 'top-1 (%)', None)]
    rows = {r.config: r for r in model_zoo.zoo_rows(count, sections)}
    hoga = rows['autola_cifar/resnet20-hoga_4xb64-cos500e_cifar10.py']
    # ResNet-20: 3 basic blocks in each stage of 16, 32 and 64 channels.
    assert hoga.params - hoga.plain_params == 3 * (HOGA_PARAMS[16] + HOGA_PARAMS[32] +
                                                   HOGA_PARAMS[64])
    assert hoga.flops > rows['autola_cifar/resnet20_4xb64-cos500e_cifar10.py'].flops

    placements = model_zoo.placement_params(count)
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
