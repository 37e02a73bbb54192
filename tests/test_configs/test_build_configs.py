"""Every experiment config builds its model, with attention where its name says."""
import copy
import re

import pytest
from config_index import (ALL_CONFIGS, ATTENTION_TYPES, CONFIG_ROOT, SUPPLEMENT_CONFIGS,
                          attention_of, config_id, with_absent_genotypes_replaced)

from autola_mm.models.attention import Genotype

# (folder, plain config) of every comparison of the supplement; each has an
# SE, a CBAM and a HOGA variant beside it.
PLAIN_CONFIGS = [
    *(f'autola_cifar/resnet{d}_4xb64-cos500e_cifar10.py' for d in (20, 32, 56)),
    *(f'autola_cifar/resnet{d}-w64_4xb32-cos500e_cifar100.py' for d in (20, 32, 56)),
    *(f'autola_imagenet/{n}_8xb32-step100e_in1k.py'
      for n in ('resnet18', 'resnet34', 'resnet50', 'resnet101', 'wrn50-2')),
    'ssd/ssd300_r50_8xb16-65e_coco.py',
    'faster_rcnn/faster-rcnn_r50_fpn_4xb2-14e_coco.py',
    'simplebaseline/simplebaseline_r50_4xb32-140e_coco-256x192.py',
]


def variant(plain: str, attention: str) -> str:
    """The file name of the ``attention`` variant of a plain config."""
    folder, name = plain.split('/')
    model, rest = name.split('_', 1)
    if folder in ('ssd', 'faster_rcnn', 'simplebaseline'):
        backbone, rest = rest.split('_', 1)
        return f'{folder}/{model}_{backbone}-{attention}_{rest}'
    return f'{folder}/{model}-{attention}_{rest}'


def test_every_comparison_has_all_four_variants_and_nothing_else():
    expected = {CONFIG_ROOT / variant(p, a) for p in PLAIN_CONFIGS for a in ATTENTION_TYPES}
    expected |= {CONFIG_ROOT / p for p in PLAIN_CONFIGS}
    expected.add(CONFIG_ROOT / 'faster_rcnn_r50_fpn_hoga_1x.py')
    assert set(SUPPLEMENT_CONFIGS) == expected
    assert len(SUPPLEMENT_CONFIGS) == 14 * 4 + 1


@pytest.mark.parametrize('plain', PLAIN_CONFIGS)
@pytest.mark.parametrize('attention', sorted(ATTENTION_TYPES))
def test_variants_differ_from_the_plain_config_only_by_the_plugin(load_config, plain,
                                                                   attention):
    plain_cfg = load_config(CONFIG_ROOT / plain).to_dict()
    cfg = load_config(CONFIG_ROOT / variant(plain, attention)).to_dict()
    plugins = cfg['model']['backbone'].pop('plugins')
    assert plugins == [dict(cfg=dict(type=ATTENTION_TYPES[attention]), position='after_conv2')]
    assert cfg == plain_cfg


def test_the_promised_faster_rcnn_name_is_the_hoga_experiment(load_config):
    alias = load_config(CONFIG_ROOT / 'faster_rcnn_r50_fpn_hoga_1x.py').to_dict()
    target = load_config(CONFIG_ROOT /
                         'faster_rcnn/faster-rcnn_r50-hoga_fpn_4xb2-14e_coco.py').to_dict()
    assert alias == target


def residual_blocks(backbone):
    """Every residual block of a backbone (the modules of its stages)."""
    return [block for name in backbone.stage_names for block in getattr(backbone, name)]


def consumed_channels(model, num_outputs: int) -> tuple:
    """Channels the neck or head expects from the backbone's outputs."""
    neck = getattr(model, 'neck', None)
    if hasattr(neck, 'in_channels'):  # FPN
        return tuple(neck.in_channels)
    if hasattr(model, 'bbox_head'):  # SSD: the neck passes the backbone maps on
        return tuple(model.bbox_head.in_channels[:num_outputs])
    return (model.head.in_channels, )  # classifier, heatmap head


def check_attention_placement(model, attention):
    """One ``attention`` plugin right after conv2 (its norm, for a basic block)
    of every residual block, none anywhere else; shapes that fit the head."""
    from mmengine.registry import MODELS

    backbone = model.backbone
    blocks = residual_blocks(backbone)
    plugins = list(backbone.plugin_layers())
    if attention is None:
        assert plugins == []
    else:
        expected = MODELS.get(attention)
        assert len(plugins) == len(blocks) and all(type(p) is expected for p in plugins)
        for block in blocks:
            [name] = block.plugin_names['after_conv2']
            assert type(getattr(block, name)) is expected
            assert not any(block.plugin_names[p] for p in block.plugin_names
                           if p != 'after_conv2')
            assert getattr(block, name).in_channels == block.conv2.out_channels
    assert tuple(backbone.out_channels) == consumed_channels(model, len(backbone.out_channels))


@pytest.fixture(scope='module')
def searched_genotype_file(tmp_path_factory) -> str:
    """A genotype file, as a search writes it, for configs that read one."""
    path = tmp_path_factory.mktemp('search') / 'genotype.json'
    Genotype.parse('CBAM:0 | SE:0 skip_connect:1 | sep_conv_3x3:0 dil_conv_3x3:1 SE_A_M:2 | '
                   'SE:0 CBAM:1 skip_connect:2 dil_conv_3x3_spatial:3').to_json(path)
    return str(path)


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=config_id)
def test_config_builds_its_model(load_config, build_model, searched_genotype_file, path):
    cfg = copy.deepcopy(load_config(path))
    assert 'autola_mm' in cfg.custom_imports.imports
    assert cfg.custom_imports.allow_failed_imports is False
    cfg.model = with_absent_genotypes_replaced(cfg.model.to_dict(), searched_genotype_file)
    model = build_model(cfg)
    assert sum(p.numel() for p in model.parameters()) > 0
    if path in SUPPLEMENT_CONFIGS:
        check_attention_placement(model, attention_of(path))


@pytest.mark.parametrize('path', [p for p in SUPPLEMENT_CONFIGS if 'autola_' in str(p)],
                         ids=config_id)
def test_classification_depth_and_width_match_the_name(load_config, path):
    cfg = load_config(path)
    backbone = cfg.model.backbone
    depth = int(re.match(r'(resnet|wrn)(\d+)', path.stem).group(2))
    assert backbone.depth == depth
    if path.stem.endswith('cifar100'):
        assert (backbone.base_channels, cfg.model.head.num_classes) == (64, 100)
        assert cfg.model.head.in_channels == 4 * 64
    elif path.stem.endswith('cifar10'):
        assert (backbone.base_channels, cfg.model.head.num_classes) == (16, 10)
        assert cfg.model.head.in_channels == 4 * 16
    else:
        assert backbone.get('widen_factor', 1) == (2 if path.stem.startswith('wrn') else 1)
        assert cfg.model.head.in_channels == (512 if depth < 50 else 2048)
