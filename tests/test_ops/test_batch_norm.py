"""batch_norm: torch's BatchNorm2d in training and evaluation, on both paths."""
import numpy as np
import pytest
import torch

from ops_numpy_reference import (LONG_ROWS, as_np, assert_close_np, assert_rejected,
                                 batch_norm_grad_np, batch_norm_np, grads_of, in_layout,
                                 shapes_and_layouts)

#: Maps with more than one value per channel (training needs it), 7x7 and 1x257 rows
#: (vector remainders), a map of several parallel CPU tasks and rows of several chunks.
NORM_SHAPES = [(2, 5, 6, 7), (2, 4, 1, 1), (2, 3, 7, 7), (1, 3, 1, 257), (2, 64, 23, 23),
               LONG_ROWS]
MOMENTUM, EPS = 0.1, 1e-5


def make_inputs(case, shape, layout='contiguous', affine=True, seed=0):
    """x (mean 1, std 3), weight, bias (None unless ``affine``), running mean and variance, grad."""
    channels = shape[1]
    x = in_layout(1 + 3 * case.randn(*shape, seed=seed), layout)
    weight = case.randn(channels, seed=seed + 1) if affine else None
    bias = case.randn(channels, seed=seed + 2) if affine else None
    running_mean = case.randn(channels, seed=seed + 3)
    running_var = 0.5 + case.randn(channels, seed=seed + 4).abs()
    return x, weight, bias, running_mean, running_var, case.randn(*shape, seed=seed + 5)


@pytest.mark.parametrize('relu', [False, True], ids=['bn', 'bn-relu'])
@pytest.mark.parametrize('affine', [True, False], ids=['affine', 'no-affine'])
@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('shape, layout', shapes_and_layouts(NORM_SHAPES, NORM_SHAPES[::2]))
def test_forward_matches_numpy(ops, case, shape, layout, training, affine, relu):
    x, weight, bias, running_mean, running_var, _ = make_inputs(case, shape, layout, affine)
    expected = batch_norm_np(x, weight, bias, running_mean, running_var, training, MOMENTUM, EPS)
    if relu:
        expected = (np.maximum(expected[0], 0), ) + expected[1:]
    out = ops.batch_norm(x, weight, bias, running_mean, running_var, training, MOMENTUM, EPS,
                         relu)
    assert out.dtype == case.dtype and out.device == x.device
    for actual, wanted in zip((out, running_mean, running_var), expected):
        assert_close_np(actual, wanted, **case.tolerance)


@pytest.mark.parametrize('relu', [False, True], ids=['bn', 'bn-relu'])
@pytest.mark.parametrize('affine', [True, False], ids=['affine', 'no-affine'])
@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('shape, layout', shapes_and_layouts(NORM_SHAPES, NORM_SHAPES[::2]))
def test_backward_matches_numpy(ops, case, shape, layout, training, affine, relu):
    x, weight, bias, running_mean, running_var, grad = make_inputs(case, shape, layout, affine,
                                                                   seed=6)
    inputs = (x.requires_grad_(), ) + ((weight.requires_grad_(), bias.requires_grad_())
                                      if affine else ())
    out = ops.batch_norm(x, weight, bias, running_mean.clone(), running_var.clone(), training,
                         MOMENTUM, EPS, relu)
    # A fused ReLU passes the gradient where its output is positive (the
    # forward test checks that output).
    passed = torch.where(out > 0, grad, 0) if relu else grad
    expected = batch_norm_grad_np(x, weight, running_mean, running_var, training, EPS, passed)
    for actual, wanted, inp, atol in zip(grads_of(out, inputs, grad), expected, inputs,
                                         sum_tolerances(case, x, running_mean, running_var,
                                                        training, passed)):
        assert actual.dtype == inp.dtype and actual.shape == inp.shape
        assert_close_np(actual, wanted, rtol=case.tolerance['rtol'], atol=atol)


def sum_tolerances(case, x, running_mean, running_var, training, grad):
    """The absolute tolerances of grad_x, grad_weight and grad_bias.

    The parameters' gradients are sums over N * H * W values, whose rounding
    error grows with the sum of the terms' magnitudes, not with the result:
    rtol times that sum (a sum of 1058 float32 terms that cancel to 0.2
    misses rtol 1e-5 on either path).
    """
    x_hat = batch_norm_np(x, None, None, running_mean, running_var, training, MOMENTUM, EPS)[0]
    g = np.abs(as_np(grad))
    rtol = case.tolerance['rtol']
    return (case.tolerance['atol'], rtol * (g * np.abs(x_hat)).sum(axis=(0, 2, 3)).max(),
            rtol * g.sum(axis=(0, 2, 3)).max())


@pytest.mark.parametrize('relu', [False, True], ids=['bn', 'bn-relu'])
@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
def test_gradcheck(one_thread, ops, device, training, relu):
    def tensor(*shape):
        return torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)

    x, weight, bias = tensor(2, 3, 4, 5), tensor(3), tensor(3)
    running_var = torch.rand(3, dtype=torch.float64, device=device) + 0.5
    running_mean = torch.randn(3, dtype=torch.float64, device=device)

    def normalise(x, weight, bias):
        return ops.batch_norm(x, weight, bias, running_mean.clone(), running_var.clone(),
                              training, MOMENTUM, EPS, relu)

    assert torch.autograd.gradcheck(normalise, (x, weight, bias))


def test_hand_computed_values_and_running_statistics(ops, device):
    # One channel holds 1 and 3: mean 2, biased variance 1, unbiased 2.
    x = torch.tensor([1., 3.], device=device).view(2, 1, 1, 1).requires_grad_()
    running_mean, running_var = torch.zeros(1, device=device), torch.ones(1, device=device)
    weight = torch.tensor([2.], device=device, requires_grad=True)
    bias = torch.tensor([5.], device=device, requires_grad=True)
    out = ops.batch_norm(x, weight, bias, running_mean, running_var, True, 0.5, 1e-12)
    torch.testing.assert_close(out.flatten(), torch.tensor([3., 7.], device=device))
    torch.testing.assert_close(running_mean, torch.tensor([1.], device=device))
    torch.testing.assert_close(running_var, torch.tensor([1.5], device=device))
    # d out / d x is 0 for a gradient proportional to x_hat's complement: grad = (1, 1).
    out.backward(torch.tensor([1., 1.], device=device).view(2, 1, 1, 1))
    torch.testing.assert_close(x.grad.flatten(), torch.zeros(2, device=device))
    torch.testing.assert_close(weight.grad, torch.tensor([0.], device=device))
    torch.testing.assert_close(bias.grad, torch.tensor([2.], device=device))
    evaluated = ops.batch_norm(x, weight, bias, running_mean, running_var, False, 0.5, 1e-12)
    expected = 2 * (torch.tensor([1., 3.], device=device) - 1) / 1.5**0.5 + 5
    torch.testing.assert_close(evaluated.flatten(), expected)


def test_empty_batch_leaves_the_running_statistics(ops, case):
    x, weight, bias, running_mean, running_var, _ = make_inputs(case, (2, 3, 4, 4))
    before = (running_mean.clone(), running_var.clone())
    out = ops.batch_norm(x[:0], weight, bias, running_mean, running_var, True, MOMENTUM, EPS)
    assert out.shape == (0, 3, 4, 4)
    assert torch.equal(running_mean, before[0]) and torch.equal(running_var, before[1])


def test_training_counts_batches_in_num_batches_tracked(ops, device):
    x = torch.randn(2, 3, 4, 4, device=device)
    stats = (torch.zeros(3, device=device), torch.ones(3, device=device))
    counter = torch.tensor(5, device=device)
    ops.batch_norm(x, None, None, *stats, True, MOMENTUM, EPS, False, counter)
    ops.batch_norm(x, None, None, *stats, True, MOMENTUM, EPS, True, counter)
    assert counter.item() == 7
    ops.batch_norm(x, None, None, *stats, False, MOMENTUM, EPS, False, counter)
    assert counter.item() == 7  # evaluation does not count
    assert_rejected(
        lambda: ops.batch_norm(x, None, None, *stats, True, MOMENTUM, EPS, False,
                               torch.zeros(1, dtype=torch.long, device=device)),
        'autola_mm::batch_norm: num_batches_tracked must be a 0-dim int64 tensor, got a Long '
        'tensor of shape [1]')
    assert counter.item() == 7


def test_one_value_per_channel_in_training_is_rejected(ops, device):
    x = torch.randn(1, 3, 1, 1, device=device)
    stats = (torch.zeros(3, device=device), torch.ones(3, device=device))
    assert_rejected(
        lambda: ops.batch_norm(x, None, None, *stats, True, MOMENTUM, EPS),
        'autola_mm::batch_norm: expected more than 1 value per channel when training, '
        'got x of shape [1, 3, 1, 1]')
    assert ops.batch_norm(x, None, None, *stats, False, MOMENTUM, EPS).shape == x.shape


@pytest.mark.parametrize('eps, text', [(0.0, '0'), (-1e-5, '-1e-05'), (-2.5, '-2.5')])
def test_non_positive_eps_in_training_is_rejected(ops, device, eps, text):
    x = torch.randn(2, 3, 4, 4, device=device)
    stats = (torch.zeros(3, device=device), torch.ones(3, device=device))
    assert_rejected(lambda: ops.batch_norm(x, None, None, *stats, True, MOMENTUM, eps),
                    f'autola_mm::batch_norm: eps must be positive when training, got {text}')


def test_bad_vectors_are_rejected(ops, device):
    x = torch.randn(2, 3, 4, 4, device=device)
    stats = (torch.zeros(3, device=device), torch.ones(3, device=device))
    assert_rejected(
        lambda: ops.batch_norm(x, torch.ones(4, device=device), None, *stats, True, MOMENTUM,
                               EPS),
        'autola_mm::batch_norm: weight must have shape (C,) = (3,) for x of shape '
        '[2, 3, 4, 4], got [4]')
    assert_rejected(
        lambda: ops.batch_norm(x, None, None, stats[0].double(), stats[1], True, MOMENTUM, EPS),
        'autola_mm::batch_norm: running_mean must have x\'s dtype Float, got Double')


def test_parameters_of_two_dtypes_are_rejected(needs_compiled):
    # float16 maps take float16 or float32 parameters, but all of one dtype: ATen's
    # batch norm, which runs on CUDA, reads every parameter as the first one's dtype
    # (checked on Meta tensors, which run the operator's checks on any machine).
    x = torch.empty(2, 3, 4, 4, device='meta', dtype=torch.float16)
    half, single = (torch.empty(3, device='meta', dtype=dtype)
                    for dtype in (torch.float16, torch.float32))
    assert_rejected(
        lambda: torch.ops.autola_mm.batch_norm(x, half, None, single, single, True, MOMENTUM,
                                               EPS),
        'autola_mm::batch_norm: running_mean must have weight\'s dtype Half, got Float (the '
        'parameters and running statistics share one dtype)')
    out, mean, invstd = torch.ops.autola_mm.batch_norm(x, single, single, single, single, True,
                                                       MOMENTUM, EPS)
    assert out.dtype == torch.float16 and mean.dtype == invstd.dtype == torch.float32


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16], ids=['float16', 'bfloat16'])
@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
def test_low_precision_map_with_float32_parameters_matches_torch(compiled_device, dtype,
                                                                 training):
    # Under autocast nn.BatchNorm2d keeps float32 parameters and running statistics
    # for a float16 or bfloat16 map (ATen's mixed-type kernel); so does the operator,
    # each way.
    if compiled_device == 'cpu':
        pytest.skip('the CPU kernels compute float32 and float64 maps; float16 and bfloat16 '
                    'maps take the reference path there')
    gen = torch.Generator().manual_seed(0)

    def tensor(*shape, dtype=torch.float32):
        return torch.randn(shape, generator=gen).to(compiled_device, dtype)

    x, grad = 1 + 3 * tensor(2, 3, 5, 5, dtype=dtype), tensor(2, 3, 5, 5, dtype=dtype)
    weight, bias = tensor(3), tensor(3)
    running = (tensor(3), 0.5 + tensor(3).abs())
    results = []
    for batch_norm in (torch.ops.autola_mm.batch_norm, None):
        inputs = [t.clone().requires_grad_() for t in (x, weight, bias)]
        stats = [t.clone() for t in running]
        if batch_norm is None:
            out = torch.nn.functional.batch_norm(inputs[0], *stats, *inputs[1:], training,
                                                 MOMENTUM, EPS)
        else:
            out = batch_norm(*inputs, *stats, training, MOMENTUM, EPS)[0]
        assert out.dtype == dtype
        results.append([out, *grads_of(out, inputs, grad), *stats])
    for ours, torchs in zip(*results):
        assert ours.dtype == torchs.dtype
        # Sums over the 50 values of a channel, rounded to the map's dtype.
        torch.testing.assert_close(ours, torchs, rtol=2e-2, atol=2e-2)


def test_evaluation_gradient_of_x_does_not_read_x(ops, device):
    # With the running statistics x does not enter x's gradient (weight * invstd *
    # grad): an infinite x where the gradient is 0 leaves it 0, as in torch.
    x = torch.tensor([1., float('inf'), -float('inf'), 2.], device=device).view(1, 1, 2, 2)
    grad = torch.tensor([1., 0., 0., 1.], device=device).view(1, 1, 2, 2)
    weight, bias = torch.tensor([2.], device=device), torch.tensor([0.5], device=device)
    stats = (torch.tensor([0.5], device=device), torch.tensor([4.], device=device))
    inp = x.clone().requires_grad_()
    out = ops.batch_norm(inp, weight, bias, *stats, False, MOMENTUM, EPS)
    grad_x, = torch.autograd.grad(out, inp, grad)
    torch.testing.assert_close(grad_x, grad * 2 / (4 + EPS)**.5)


def test_strided_vectors_are_read_and_updated_in_place(ops, device):
    x = 1 + 3 * torch.randn(2, 3, 4, 4, device=device)
    weight, bias = torch.randn(6, device=device)[::2], torch.randn(6, device=device)[::2]
    strided = (torch.zeros(6, device=device)[::2], torch.ones(6, device=device)[::2])
    contiguous = tuple(s.clone() for s in strided)
    out = ops.batch_norm(x, weight, bias, *strided, True, MOMENTUM, EPS)
    expected = ops.batch_norm(x, weight.clone(), bias.clone(), *contiguous, True, MOMENTUM, EPS)
    torch.testing.assert_close(out, expected)
    for updated, wanted in zip(strided, contiguous):
        torch.testing.assert_close(updated, wanted)
        assert not torch.equal(updated, torch.zeros_like(updated) + updated[0])


def test_bias_without_weight_gets_its_gradient(ops, device):
    x = torch.randn(2, 3, 4, 4, device=device, requires_grad=True)
    bias = torch.randn(3, device=device, requires_grad=True)
    stats = (torch.zeros(3, device=device), torch.ones(3, device=device))
    grad = torch.randn_like(x)
    grads = grads_of(ops.batch_norm(x, None, bias, *stats, True, MOMENTUM, EPS), (x, bias), grad)
    torch.testing.assert_close(grads[1], grad.sum(dim=(0, 2, 3)))


def test_a_double_backward_is_refused(needs_compiled):
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    weight = torch.randn(3, requires_grad=True)
    stats = (torch.zeros(3), torch.ones(3))
    out = torch.ops.autola_mm.batch_norm(x, weight, None, *stats, True, MOMENTUM, EPS)[0]
    grad_x, = torch.autograd.grad(out.pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match='autola_mm::batch_norm_backward'):
        grad_x.sum().backward()


def test_relu_out_masks_the_gradient_in_any_layout(compiled_device):
    """Where relu_out is at most 0 the gradient stops; elsewhere (NaN too, as torch's) it passes."""
    gen = torch.Generator().manual_seed(0)

    def tensor(*shape):
        return torch.randn(shape, generator=gen, dtype=torch.float64).to(compiled_device)

    x, grad, weight = tensor(2, 3, 4, 5), tensor(2, 3, 4, 5), tensor(3)
    relu_out = tensor(2, 5, 4, 3).permute(0, 3, 2, 1)
    relu_out[0, 0, 0, 0] = float('nan')
    moments = (x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False).add(EPS).rsqrt())
    backward = torch.ops.autola_mm.batch_norm_backward
    strided = backward(grad, x, weight, None, None, *moments, True, EPS, relu_out)
    contiguous = backward(grad, x, weight, None, None, *moments, True, EPS, relu_out.contiguous())
    masked = backward(torch.where(relu_out <= 0, 0, grad), x, weight, None, None, *moments, True,
                      EPS)
    for a, b, c in zip(strided, contiguous, masked):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(a, c)
