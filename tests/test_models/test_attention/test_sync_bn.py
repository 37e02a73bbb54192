"""SyncBN reaches every BN inside SE, CBAM and HOGA, and those BNs run as modules.

Either way a config asks for it: ``sync_bn='torch'`` (mmengine converts the
BNs of the model it wraps in DDP) or ``norm_cfg=dict(type='SyncBN')`` in the
plugin configs. SE has no norm layer (its MLP is two linear layers), so it
has nothing to convert; HOGA contains two SEs, CBAM one BN. torch's DDP
accepts SyncBN layers only in GPU modules, and a SyncBN synchronises only in
training with more than one process, so on a CPU the tests check the
conversion mmengine's Runner applies before it wraps the model, and that
the attention core calls every norm module itself in training (a fused
operator reading a BN's parameters would skip the synchronisation without a
word).
"""
import pytest
import torch
from mmengine.model import convert_sync_batchnorm, revert_sync_batchnorm
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from autola_mm.models.attention import CBAM, HOGA, SE
from autola_mm.models.backbones import PluginCifarResNet

ATTENTION = (SE, CBAM, HOGA)


def plugins(norm_cfg=None):
    """SE and CBAM after the first conv of every block, HOGA after the second."""
    norm = {} if norm_cfg is None else dict(norm_cfg=norm_cfg)
    return [dict(cfg=dict(type='SE'), position='after_conv1'),
            dict(cfg=dict(type='CBAM', **norm), position='after_conv1'),
            dict(cfg=dict(type='HOGA', **norm), position='after_conv2')]


def attention_norms(model: nn.Module) -> dict:
    """Every norm layer inside the model's SE, CBAM and HOGA modules, by class."""
    norms = {}
    for module in model.modules():
        if isinstance(module, ATTENTION):
            for inner in module.modules():
                if isinstance(inner, _BatchNorm):
                    norms.setdefault(type(module).__name__, []).append(inner)
    return norms


def check_all_sync(norms: dict) -> None:
    """Every norm layer found is a SyncBatchNorm; CBAM and HOGA have some, SE none."""
    assert sorted(norms) == ['CBAM', 'HOGA']
    for attention, layers in norms.items():
        assert all(isinstance(layer, nn.SyncBatchNorm) for layer in layers), attention


def test_syncbn_norm_cfg_reaches_every_attention_norm():
    model = PluginCifarResNet(8, plugins=plugins(dict(type='SyncBN')))
    check_all_sync(attention_norms(model))


def test_sync_bn_torch_converts_every_attention_norm():
    """What mmengine's Runner does with ``sync_bn='torch'`` before it wraps the model in DDP."""
    model = convert_sync_batchnorm(PluginCifarResNet(8, plugins=plugins()), 'torch')
    check_all_sync(attention_norms(model))


def test_one_process_reverts_to_plain_bn():
    """What the Runner does with SyncBN layers when it trains in one process."""
    model = revert_sync_batchnorm(PluginCifarResNet(8, plugins=plugins(dict(type='SyncBN'))))
    norms = [layer for group in attention_norms(model).values() for layer in group]
    assert norms and not any(isinstance(layer, nn.SyncBatchNorm) for layer in norms)


@pytest.fixture
def one_thread():
    """One torch thread: the maps are tiny, OpenMP's start-up would dominate."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_every_syncbn_runs_its_forward_in_training(ops_mode, one_thread):
    torch.manual_seed(0)
    model = PluginCifarResNet(8, base_channels=16, plugins=plugins(dict(type='SyncBN')))
    model.train()
    layers = [layer for group in attention_norms(model).values() for layer in group]
    calls = []
    for layer in layers:
        layer.register_forward_hook(lambda module, args, output: calls.append(module))
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    sum(out.square().mean() for out in model(x)).backward()
    assert {id(layer) for layer in calls} == {id(layer) for layer in layers}
    assert all(layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
               for layer in layers if layer.affine)
