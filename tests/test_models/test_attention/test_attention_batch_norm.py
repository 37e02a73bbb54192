"""AttentionBatchNorm2d: an nn.BatchNorm2d on the attention core, built for every ``type='BN'``."""
import pytest
import torch
from torch import nn

from autola_mm.models.attention import HOGA
from autola_mm.models.attention.batch_norm import AttentionBatchNorm2d, norm_act
from autola_mm.models.attention.layer_configs import build_norm
from autola_mm.ops import compiled_ops_available, forced_ops_mode

PATHS = ['reference', pytest.param('compiled', marks=pytest.mark.skipif(
    not compiled_ops_available(), reason='the compiled attention core is not built'))]


@pytest.mark.parametrize('relu', [False, True], ids=['bn', 'bn-relu'])
@pytest.mark.parametrize('momentum', [0.1, None], ids=['momentum', 'cumulative'])
@pytest.mark.parametrize('affine', [True, False], ids=['affine', 'no-affine'])
@pytest.mark.parametrize('path', PATHS)
def test_trains_and_evaluates_as_torch_batch_norm(path, affine, momentum, relu):
    """With ``relu``, ``norm_act(ours, ReLU)`` against torch's BN and ReLU."""
    torch.manual_seed(0)
    ours = AttentionBatchNorm2d(6, momentum=momentum, affine=affine)
    theirs = nn.BatchNorm2d(6, momentum=momentum, affine=affine)
    if affine:
        for module in (ours, theirs):
            module.weight.data = torch.linspace(0.5, 2, 6)
            module.bias.data = torch.linspace(-1, 1, 6)
    with forced_ops_mode(path):
        for step in range(3):
            x = 2 + 3 * torch.randn(4, 6, 5, 5)
            grad = torch.randn_like(x)
            results = []
            for module in (ours, theirs):
                inp = x.clone().requires_grad_()
                out = norm_act(module, nn.ReLU(), inp) if relu else module(inp)
                out.backward(grad)
                results.append([out, inp.grad] + [p.grad for p in module.parameters()])
            for a, b in zip(*results):
                torch.testing.assert_close(a, b)
        for name, buffer in theirs.named_buffers():
            torch.testing.assert_close(getattr(ours, name), buffer)
        ours.eval(), theirs.eval()
        x = torch.randn(2, 6, 3, 3)
        torch.testing.assert_close(ours(x, relu), torch.relu(theirs(x)) if relu else theirs(x))


@pytest.mark.parametrize('path', PATHS)
def test_norm_act_fuses_only_a_relu_after_an_attention_batch_norm(path):
    x = torch.randn(4, 3, 5, 5, requires_grad=True)
    bn = AttentionBatchNorm2d(3)
    with forced_ops_mode(path):
        fused = norm_act(bn, nn.ReLU(inplace=True), x)
        torch.testing.assert_close(fused, torch.relu(bn(x)))
        if path == 'compiled':
            # One operator: its autograd node is the BN's, not a ReLU's.
            assert 'BatchNorm' in fused.grad_fn.name()
        # Another activation, a norm that replaced the BN (SyncBN, a conv-BN
        # fusion's Identity), or a module with a hook runs as the two modules.
        hooked_bn = AttentionBatchNorm2d(3)
        hooked_bn.register_forward_hook(lambda module, inputs, output: None)
        for norm, act in [(bn, nn.Sigmoid()), (nn.Identity(), nn.ReLU()),
                          (nn.GroupNorm(1, 3), nn.ReLU()), (bn, nn.ReLU()),
                          (hooked_bn, nn.ReLU())]:
            seen = []
            if type(norm) is AttentionBatchNorm2d and norm is bn:
                act.register_forward_hook(lambda module, inputs, output: seen.append(output))
            out = norm_act(norm, act, x)
            torch.testing.assert_close(out, act(norm(x)))
            if seen:
                assert torch.equal(seen[0], out)


@pytest.mark.parametrize('path', PATHS)
def test_without_running_statistics_a_fused_relu_still_applies(path):
    no_stats = AttentionBatchNorm2d(3, track_running_stats=False)
    x = torch.randn(4, 3, 5, 5)
    with forced_ops_mode(path):
        torch.testing.assert_close(no_stats(x, relu=True), torch.relu(no_stats(x)))


def test_state_dict_is_that_of_torch_batch_norm():
    theirs = nn.BatchNorm2d(4)
    theirs.running_mean.fill_(3)
    ours = AttentionBatchNorm2d(4)
    ours.load_state_dict(theirs.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert torch.equal(ours.running_mean, theirs.running_mean)


def test_build_norm_gives_it_for_every_batch_norm():
    assert type(build_norm(dict(type='BN'), 4)) is AttentionBatchNorm2d
    assert type(build_norm(dict(type=nn.BatchNorm2d), 4)) is AttentionBatchNorm2d
    frozen = build_norm(dict(type='BN', requires_grad=False, eps=1e-3, momentum=0.01), 4)
    assert type(frozen) is AttentionBatchNorm2d and (frozen.eps, frozen.momentum) == (1e-3, 0.01)
    assert not any(p.requires_grad for p in frozen.parameters())
    assert isinstance(build_norm(dict(type='SyncBN'), 4), nn.SyncBatchNorm)
    assert isinstance(build_norm(dict(type='GN', num_groups=2), 4), nn.GroupNorm)


@pytest.mark.parametrize('path', PATHS)
def test_without_running_statistics_it_normalises_as_torch_batch_norm(path):
    no_stats = AttentionBatchNorm2d(3, track_running_stats=False)
    cleared = AttentionBatchNorm2d(3).eval()
    cleared.running_mean = cleared.running_var = None
    x = torch.randn(4, 3, 5, 5)
    with forced_ops_mode(path):
        for module in (no_stats, no_stats.eval(), cleared):
            torch.testing.assert_close(module(x), nn.functional.batch_norm(
                x, None, None, module.weight, module.bias, True, 0.0, module.eps))


def test_hoga_norms_are_attention_batch_norms():
    norms = [m for m in HOGA(16).modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(type(m) is AttentionBatchNorm2d for m in norms)
