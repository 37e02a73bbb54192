"""channel_mlp: the channel MLP of SE and CBAM on one or two descriptors, on both paths."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autola_mm.models.attention.channel_mlp import ChannelMLP
from ops_numpy_reference import (assert_bitwise_or_close, assert_close_np, assert_rejected,
                                 channel_mlp_grad_np, channel_mlp_np, grads_of)

# (N, C, hidden): HOGA(16)'s output SE, CBAM on a group of 4, a wider SE,
# ResNet-50's last SE, a zero-width MLP, an empty batch.
SHAPES = [(4, 16, 2), (3, 4, 1), (2, 64, 8), (8, 2048, 128), (2, 5, 0), (0, 6, 3)]
SHAPE_IDS = ['x'.join(map(str, shape)) for shape in SHAPES]
#: SE (avg only, no biases), SE_A_M (avg and max, no biases), CBAM (avg and max, biases).
VARIANTS = {'se': (False, False), 'se_a_m': (True, False), 'cbam': (True, True)}


def mlp_inputs(case, shape, variant, seed=0):
    """``(avg, max, weight1, bias1, weight2, bias2)`` and the logits' gradient."""
    n, c, hidden = shape
    with_max, with_bias = VARIANTS[variant]
    avg = case.randn(n, c, 1, 1, seed=seed)
    max_ = case.randn(n, c, 1, 1, seed=seed + 1) if with_max else None
    weight1 = case.randn(hidden, c, seed=seed + 2) / max(1, c)**.5
    bias1 = case.randn(hidden, seed=seed + 3) if with_bias else None
    weight2 = case.randn(c, hidden, seed=seed + 4) / max(1, hidden)**.5
    bias2 = case.randn(c, seed=seed + 5) if with_bias else None
    return (avg, max_, weight1, bias1, weight2, bias2), case.randn(n, c, 1, 1, seed=seed + 6)


@pytest.mark.parametrize('variant', VARIANTS)
@pytest.mark.parametrize('shape', SHAPES, ids=SHAPE_IDS)
def test_forward_matches_numpy(ops, case, shape, variant):
    args, _ = mlp_inputs(case, shape, variant)
    logits = ops.channel_mlp(*args)
    assert logits.dtype == case.dtype and logits.device.type == case.device
    assert_close_np(logits, channel_mlp_np(*args), **case.sum_tolerance(shape[1] + shape[2]))


@pytest.mark.parametrize('variant', VARIANTS)
@pytest.mark.parametrize('shape', SHAPES, ids=SHAPE_IDS)
def test_backward_matches_numpy(ops, case, shape, variant):
    n, c, hidden = shape
    args, grad = mlp_inputs(case, shape, variant, seed=7)
    given = [t.requires_grad_() for t in args if t is not None]
    grads = iter(grads_of(ops.channel_mlp(*args), given, grad))
    expected = channel_mlp_grad_np(*args[:5], grad)
    # The descriptors' gradients sum over hidden units, the weights' over images.
    terms = (hidden, hidden, 2 * n, 2 * n, 2 * n + c, 2 * n)
    for inp, wanted, count in zip(args, expected, terms):
        if inp is None:
            continue
        actual = next(grads)
        assert actual.dtype == case.dtype and actual.shape == inp.shape
        assert_close_np(actual, wanted, **case.sum_tolerance(count + c))


def test_gradcheck(one_thread, ops, device):

    def tensor(*shape):
        return torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)

    avg, max_ = tensor(3, 6, 1, 1), tensor(3, 6, 1, 1)
    assert torch.autograd.gradcheck(ops.channel_mlp,
                                    (avg, max_, tensor(4, 6), tensor(4), tensor(6, 4), tensor(6)))
    assert torch.autograd.gradcheck(ops.channel_mlp,
                                    (avg, None, tensor(4, 6), None, tensor(6, 4), None))


def test_hand_computed_values(ops, device):
    # fc1 = [[1, -1], [0, 2]], fc2 = [[1, 1], [2, 0]], no biases. avg = (3, 1):
    # hidden relu((2, 2)) = (2, 2), logits (4, 4); max = (0, -1): hidden
    # relu((1, -2)) = (1, 0), logits (1, 2). Sum: (5, 6).
    avg = torch.tensor([3., 1.], device=device).view(1, 2, 1, 1).requires_grad_()
    max_ = torch.tensor([0., -1.], device=device).view(1, 2, 1, 1).requires_grad_()
    weight1 = torch.tensor([[1., -1.], [0., 2.]], device=device, requires_grad=True)
    weight2 = torch.tensor([[1., 1.], [2., 0.]], device=device, requires_grad=True)
    logits = ops.channel_mlp(avg, max_, weight1, None, weight2, None)
    torch.testing.assert_close(logits.flatten(), torch.tensor([5., 6.], device=device))
    # Upstream (1, 0): the hidden layer's gradient is fc2's first row, (1, 1);
    # max's second unit is off, so max gets fc1's first row only.
    logits.backward(torch.tensor([1., 0.], device=device).view(1, 2, 1, 1))
    torch.testing.assert_close(avg.grad.flatten(), torch.tensor([1., 1.], device=device))
    torch.testing.assert_close(max_.grad.flatten(), torch.tensor([1., -1.], device=device))
    torch.testing.assert_close(weight2.grad, torch.tensor([[3., 2.], [0., 0.]], device=device))
    torch.testing.assert_close(weight1.grad, torch.tensor([[3., 0.], [3., 1.]], device=device))


def test_nan_passes_the_relu_as_in_torch(ops, device):
    # torch.relu keeps a NaN and threshold_backward passes its gradient: image 0's
    # second hidden unit is NaN, image 1's is off.
    avg = torch.tensor([1., float('nan'), 1., -1.], device=device).view(2, 2, 1, 1)
    weight1 = torch.eye(2, device=device)
    weight2 = torch.ones(2, 2, device=device)
    grad = torch.ones(2, 2, 1, 1, device=device)
    results = []
    for mlp in (lambda *args: ops.channel_mlp(args[0], None, args[1], None, args[2], None),
                lambda a, w1, w2: F.linear(torch.relu(F.linear(a.flatten(1), w1)), w2)):
        inputs = [t.clone().requires_grad_() for t in (avg, weight1, weight2)]
        logits = mlp(*inputs)
        results.append([logits.flatten(), *grads_of(logits, inputs, grad.view_as(logits))])
    for ours, torchs in zip(*results):
        torch.testing.assert_close(ours, torchs, equal_nan=True)
    assert results[0][1][0].flatten().tolist() == [2., 2.]  # through the NaN unit too


def test_backward_is_deterministic(ops, case):
    args, grad = mlp_inputs(case, (16, 256, 32), 'cbam', seed=4)
    given = [t.requires_grad_() for t in args]
    first, second = (grads_of(ops.channel_mlp(*args), given, grad) for _ in range(2))
    assert_bitwise_or_close(first, second, case.device, case.tolerance)


def test_rejects_bad_shapes_and_dtypes(ops, device):
    avg = torch.randn(2, 6, 1, 1, device=device)
    weight1, weight2 = torch.randn(3, 6, device=device), torch.randn(6, 3, device=device)
    op = 'autola_mm::channel_mlp'
    assert_rejected(lambda: ops.channel_mlp(avg.flatten(1), None, weight1, None, weight2, None),
                    f'{op}: avg must be a pooled descriptor of shape (N, C, 1, 1), got shape '
                    '[2, 6]')
    assert_rejected(lambda: ops.channel_mlp(avg, None, weight1[:, :5], None, weight2, None),
                    f'{op}: weight1 must have shape (hidden, C) = [3, 6], got [3, 5]')
    assert_rejected(lambda: ops.channel_mlp(avg, None, weight1, None, weight2.t(), None),
                    f'{op}: weight2 must have shape (C, hidden) = [6, 3], got [3, 6]')
    assert_rejected(lambda: ops.channel_mlp(avg, avg[:1], weight1, None, weight2, None),
                    f'{op}: max must have shape (N, C, 1, 1) = [2, 6, 1, 1], got [1, 6, 1, 1]')
    assert_rejected(
        lambda: ops.channel_mlp(avg, None, weight1, torch.zeros(6, device=device), weight2, None),
        f'{op}: bias1 must have shape (hidden,) = [3], got [6]')
    assert_rejected(
        lambda: ops.channel_mlp(avg, None, weight1, None, weight2, torch.zeros(3, device=device)),
        f'{op}: bias2 must have shape (C,) = [6], got [3]')
    assert_rejected(lambda: ops.channel_mlp(avg, None, weight1.double(), None, weight2, None),
                    f'{op}: weight1 must have avg\'s dtype Float, got Double')


def test_module_runs_the_operator_only_for_relu_without_hooks(device):
    torch.manual_seed(0)
    avg, max_ = torch.randn(2, 8, 1, 1, device=device), torch.randn(2, 8, 1, 1, device=device)
    mlp = ChannelMLP(8, 2, bias=True).to(device)
    expected = (mlp.fc2(mlp.act(mlp.fc1(avg.flatten(1)))) +
                mlp.fc2(mlp.act(mlp.fc1(max_.flatten(1)))))[:, :, None, None]
    torch.testing.assert_close(mlp(avg, max_), expected)
    seen = []
    mlp.fc1.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    torch.testing.assert_close(mlp(avg, max_), expected)
    assert seen == [(2, 2), (2, 2)]  # the hooked layer ran, once per descriptor
    gelu = ChannelMLP(8, 2, act_cfg=dict(type='GELU')).to(device)
    torch.testing.assert_close(
        gelu(avg), gelu.fc2(nn.functional.gelu(gelu.fc1(avg.flatten(1))))[:, :, None, None])
