"""ONNX export of SE, CBAM, HOGA and the HOGA models of every task, checked on ONNX Runtime.

Both exporters (TorchScript, which mmdeploy uses, and dynamo) export the
reference decomposition of the attention core: the graphs hold operators of
the default ONNX domain only, take a dynamic batch, and match PyTorch within
1e-4 (float32, eval mode) on a batch of another size than the one exported.
"""
from pathlib import Path

import pytest
import torch
from tool_loading import load_tool

from autola_mm.analysis import build_model, load_config
from autola_mm.deployment import DenseOutputs, export_onnx, onnx_domains, onnxruntime_difference
from autola_mm.models.attention import CBAM, HOGA, SE

for package in ('onnx', 'onnxruntime', 'onnxscript'):
    pytest.importorskip(package, reason=f'{package} is absent: the deploy extra '
                        '(pip install -e ".[deploy]") is installed by make test')

CONFIG_ROOT = Path(__file__).resolve().parents[2] / 'configs'
EXPORTERS = ('torchscript', 'dynamo')
# Config, input (H, W): the HOGA model of each task at a small input.
MODELS = {
    'cifar_resnet20_hoga': ('autola_cifar/resnet20-hoga_4xb64-cos500e_cifar10.py', (32, 32)),
    'resnet50_hoga': ('autola_imagenet/resnet50-hoga_8xb32-step100e_in1k.py', (64, 64)),
    'simplebaseline_hoga': ('simplebaseline/simplebaseline_r50-hoga_4xb32-140e_coco-256x192.py',
                            (64, 48)),
    'faster_rcnn_hoga': ('faster_rcnn_r50_fpn_hoga_1x.py', (64, 64)),
}


def check_export(module, shape, path, exporter):
    torch.manual_seed(0)
    # torch.export specialises an axis of size 1: export on 2 images, check on 3.
    export_onnx(module, torch.randn(2, *shape), path, dynamic_batch=True, exporter=exporter)
    assert onnx_domains(path) == ['']
    assert onnxruntime_difference(path, module, torch.randn(3, *shape)) < 1e-4


def with_trained_statistics(module):
    """``module`` in eval mode with non-trivial BN statistics, as a trained model has."""
    generator = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
    return module.eval()


@pytest.mark.parametrize('exporter', EXPORTERS)
@pytest.mark.parametrize('module_type', [SE, CBAM, HOGA])
def test_attention_module(tmp_path, module_type, exporter):
    module = with_trained_statistics(module_type(32))
    check_export(module, (32, 7, 9), tmp_path / 'module.onnx', exporter)


@pytest.mark.parametrize('exporter', EXPORTERS)
@pytest.mark.parametrize('name', MODELS)
def test_model(tmp_path, name, exporter):
    config, (height, width) = MODELS[name]
    cfg = load_config(f'{CONFIG_ROOT}/{config}', {'model.backbone.init_cfg': None})
    network = DenseOutputs(with_trained_statistics(build_model(cfg)), cfg.default_scope)
    check_export(network, (3, height, width), tmp_path / f'{name}.onnx', exporter)


def write_checkpoint(config, path):
    cfg = load_config(config, {'model.backbone.init_cfg': None})
    torch.save({'state_dict': build_model(cfg).state_dict(), 'meta': {}}, path)


def test_tool_exports_and_verifies(tmp_path, capsys):
    config = f'{CONFIG_ROOT}/{MODELS["cifar_resnet20_hoga"][0]}'
    write_checkpoint(config, tmp_path / 'model.pth')
    load_tool('deployment/pytorch2onnx').main([
        config, str(tmp_path / 'model.pth'), '--out', str(tmp_path / 'model.onnx'),
        '--dynamic-batch', '--verify'])
    out = capsys.readouterr().out
    assert "operator domains ['']" in out and 'with a dynamic batch' in out
    difference = float(out.rsplit('difference ', 1)[1])
    assert difference < 1e-4


@pytest.mark.parametrize('problem, message', [
    ('config', 'No such file or directory|does not exist'),
    ('checkpoint', 'does not match|differ'),
    ('shape', 'cannot take an input of shape'),
])
def test_tool_refuses_bad_input(tmp_path, problem, message):
    config = f'{CONFIG_ROOT}/{MODELS["cifar_resnet20_hoga"][0]}'
    other = f'{CONFIG_ROOT}/autola_cifar/resnet20-se_4xb64-cos500e_cifar10.py'
    write_checkpoint(other if problem == 'checkpoint' else config, tmp_path / 'model.pth')
    argv = [config if problem != 'config' else str(tmp_path / 'missing.py'),
            str(tmp_path / 'model.pth'), '--out', str(tmp_path / 'model.onnx')]
    if problem == 'shape':
        argv += ['--shape', '0', '8']
    with pytest.raises(SystemExit, match=message):
        load_tool('deployment/pytorch2onnx').main(argv)
