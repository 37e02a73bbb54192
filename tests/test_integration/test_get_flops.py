"""autola_mm.analysis.complexity and tools/analysis/get_flops.py: parameters that
add up, FLOP handles for what mmengine leaves uncounted, and the CLI on an
mmpretrain config."""
import re
from typing import Tuple

import pytest
import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from mmengine.registry import MODELS
from tool_loading import load_tool

from torch import Tensor

from autola_mm import ops
from autola_mm.analysis import complexity
from autola_mm.ops import reference

RESNET50_WITHOUT_FC = 23_508_032  # torchvision's resnet50: 25,557,032 minus fc (2048 x 1000 + 1000)

HOGA_CLASSIFIER = """
default_scope = 'mmpretrain'
custom_imports = dict(imports=['autola_mm'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='PluginResNet', depth=50, out_indices=(3, ),
                  plugins=[dict(cfg=dict(type='HOGA'), position='after_conv2')]),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
"""


class Call(nn.Module):
    """A module whose forward calls ``fn(x, *extra)`` on fixed extra tensors."""

    def __init__(self, fn, *extra):
        super().__init__()
        self.fn = fn
        self.extra = extra

    def forward(self, x):
        return self.fn(x, *self.extra)


X = torch.rand(1, 8, 4, 4)  # 128 elements
CHANNEL_LOGITS = torch.rand(1, 8, 1, 1)
SPATIAL_LOGITS = torch.rand(1, 1, 4, 4)


@pytest.mark.parametrize('library', [
    pytest.param(ops.compiled, marks=pytest.mark.skipif(
        not ops.compiled_ops_available(), reason='the compiled attention core is not built')),
    reference
])
@pytest.mark.parametrize('name,extra,expected', [
    ('channel_stats', (), 2 * 128),  # a mean and a max over every element
    ('spatial_stats', (), 2 * 128),
    ('sigmoid_gate', (CHANNEL_LOGITS, ), 8 + 128),  # sigmoid of 8 logits, 128 products
    ('gated_spatial_stats', (CHANNEL_LOGITS, ), 8 + 128 + 2 * 128),
    ('channel_spatial_gate', (CHANNEL_LOGITS, SPATIAL_LOGITS), 8 + 16 + 2 * 128),
    # 8 output channels, each of the 16 positions 9 taps of 1 channel (depthwise).
    ('same_conv2d', (torch.rand(8, 1, 3, 3), 2, 8), 8 * 16 * 9),
    ('pointwise_conv2d', (torch.rand(3, 8, 1, 1), ), 3 * 16 * 8),
])
def test_attention_core_flops_do_not_depend_on_the_implementation(library, name, extra, expected):
    measured = complexity.model_complexity(Call(getattr(library, name), *extra), X)
    assert measured.flops == expected
    assert not measured.uncounted


# Stand-ins for the compiled ops: dispatcher ops with the same signatures, in a
# namespace of their own, so the trace holds one opaque node per call as it
# does for ``torch.ops.autola_mm.*`` whether or not those are built here.
@torch.library.custom_op('autola_flops_test::channel_stats', mutates_args=())
def _channel_stats(x: Tensor) -> Tuple[Tensor, Tensor]:
    return tuple(t.clone() for t in reference.channel_stats(x))


@torch.library.custom_op('autola_flops_test::spatial_stats', mutates_args=())
def _spatial_stats(x: Tensor) -> Tensor:
    return reference.spatial_stats(x)


@torch.library.custom_op('autola_flops_test::sigmoid_gate', mutates_args=())
def _sigmoid_gate(x: Tensor, logits: Tensor) -> Tensor:
    return reference.sigmoid_gate(x, logits)


@torch.library.custom_op('autola_flops_test::gated_spatial_stats', mutates_args=())
def _gated_spatial_stats(x: Tensor, channel_logits: Tensor) -> Tensor:
    return reference.gated_spatial_stats(x, channel_logits)


@torch.library.custom_op('autola_flops_test::channel_spatial_gate', mutates_args=())
def _channel_spatial_gate(x: Tensor, channel_logits: Tensor, spatial_logits: Tensor) -> Tensor:
    return reference.channel_spatial_gate(x, channel_logits, spatial_logits)


@torch.library.custom_op('autola_flops_test::same_conv2d', mutates_args=())
def _same_conv2d(x: Tensor, weight: Tensor, dilation: int, groups: int) -> Tensor:
    return reference.same_conv2d(x, weight, dilation, groups)


@torch.library.custom_op('autola_flops_test::pointwise_conv2d', mutates_args=())
def _pointwise_conv2d(x: Tensor, weight: Tensor) -> Tensor:
    return reference.pointwise_conv2d(x, weight)


@pytest.mark.parametrize('name,extra,expected', [
    ('channel_stats', (), 2 * 128),
    ('spatial_stats', (), 2 * 128),
    ('sigmoid_gate', (CHANNEL_LOGITS, ), 8 + 128),
    ('gated_spatial_stats', (CHANNEL_LOGITS, ), 8 + 128 + 2 * 128),
    ('channel_spatial_gate', (CHANNEL_LOGITS, SPATIAL_LOGITS), 8 + 16 + 2 * 128),
    # 8 output channels, each of the 16 positions 9 taps of 1 channel (depthwise).
    ('same_conv2d', (torch.rand(8, 1, 3, 3), 2, 8), 8 * 16 * 9),
    ('pointwise_conv2d', (torch.rand(3, 8, 1, 1), ), 3 * 16 * 8),
])
def test_handles_of_the_compiled_ops_count_like_the_reference(name, extra, expected):
    handle = complexity.EXTRA_FLOP_HANDLES[f'autola_mm::{name}']
    analyzer = FlopAnalyzer(Call(getattr(torch.ops.autola_flops_test, name), *extra), (X, ))
    analyzer.set_op_handle(**{f'autola_flops_test::{name}': handle})
    assert analyzer.total() == expected
    assert not analyzer.unsupported_ops()


def test_max_pooling_and_residual_add_are_counted():
    pool = complexity.model_complexity(nn.MaxPool2d(3, stride=2, padding=1), torch.rand(1, 2, 8, 8))
    assert pool.flops == 2 * 4 * 4 * 9
    add = complexity.model_complexity(Call(torch.add, torch.rand(1, 8, 4, 4)), X)
    assert add.flops == 128


def test_attention_modules_leave_nothing_uncounted():
    for name in ('SE', 'CBAM', 'HOGA'):
        module = MODELS.build(dict(type=name, in_channels=32)).eval()
        measured = complexity.model_complexity(module, torch.rand(1, 32, 7, 7))
        assert measured.flops > 0 and not measured.uncounted, name


def test_cli_on_resnet50_hoga_classifier_prints_the_sum_of_its_parts(tmp_path,
                                                                      capsys):
    config = tmp_path / 'resnet50_hoga_classifier.py'
    config.write_text(HOGA_CLASSIFIER)
    load_tool('analysis/get_flops').main([str(config), '--shape', '64', '64'])
    printed = capsys.readouterr().out

    model_cfg = Config.fromfile(config).model
    backbone = MODELS.build(model_cfg.backbone)
    backbone_params = sum(p.numel() for p in backbone.parameters())
    hoga_params = sum(
        count * sum(p.numel() for p in MODELS.build(dict(type='HOGA', in_channels=c)).parameters())
        for count, c in ((3, 64), (4, 128), (6, 256), (3, 512)))
    assert backbone_params == RESNET50_WITHOUT_FC + hoga_params
    head_params = 2048 * 1000 + 1000  # the neck (global average pooling) has none

    params = int(re.search(r'^Parameters: ([\d,]+)', printed, re.M).group(1).replace(',', ''))
    assert params == backbone_params + head_params
    assert 'Input shape: (1, 3, 64, 64)' in printed
    for top_level in ('backbone', 'backbone.layer4', 'neck', 'head'):
        # (mmengine's table names a module with one child by that child)
        assert re.search(rf'^\|\s+{re.escape(top_level)}[.\w]*\s+\|', printed, re.M), top_level
    assert 'Uncounted operators: none' in printed
    flops = int(re.search(r'^FLOPs: ([\d,]+)', printed, re.M).group(1).replace(',', ''))
    assert flops > 2048 * 1000  # at least the head's multiply-adds


def test_default_shapes():
    assert complexity.default_shape(Config(dict(default_scope='mmdet'))) == (800, 1333)
    pose = Config(dict(default_scope='mmpose', codec=dict(input_size=(192, 256)), model=dict()))
    assert complexity.default_shape(pose) == (256, 192)
    cifar = Config(dict(default_scope='mmpretrain',
                        train_dataloader=dict(dataset=dict(type='CIFAR10'))))
    assert complexity.default_shape(cifar) == (32, 32)
    assert complexity.default_shape(Config(dict(default_scope='mmpretrain'))) == (224, 224)


def test_config_without_a_known_scope_is_refused():
    with pytest.raises(ValueError, match="default_scope='mmseg'.*mmdet, mmpose, mmpretrain"):
        complexity.build_model(Config(dict(default_scope='mmseg', model=dict(type='X'))))


@pytest.mark.skipif(not ops.compiled_ops_available(),
                    reason='the compiled attention core is not built (AUTOLA_WITH_OPS=0)')
@pytest.mark.parametrize('name', ['SE', 'CBAM', 'HOGA'])
def test_module_flops_do_not_depend_on_the_ops_path(name):
    module = MODELS.build(dict(type=name, in_channels=32)).eval()
    flops = {}
    for mode in ('reference', 'compiled'):
        with ops.forced_ops_mode(mode):
            flops[mode] = complexity.model_complexity(module, torch.rand(1, 32, 7, 7)).flops
    assert flops['compiled'] == flops['reference']
