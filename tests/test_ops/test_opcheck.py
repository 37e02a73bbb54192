"""torch.library.opcheck of every compiled operator on every device: schema, autograd, fake, AOT."""
import pytest
import torch

N, C, H, W = 2, 3, 4, 5


def forward_cases(device):
    """(operator name, arguments) pairs of the forward operators."""

    def tensor(*shape):
        return torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)

    x = tensor(N, C, H, W)
    # Six channels: 36 channel pairs, whose 1 x 1 convolutions run as matrix products.
    wide = tensor(N, 6, H, W)
    channel, spatial, full = tensor(N, C, 1, 1), tensor(N, 1, H, W), tensor(N, C, H, W)
    return [
        ('channel_stats', (x, )),
        ('spatial_stats', (x, )),
        ('sigmoid_gate', (x, channel)),
        ('sigmoid_gate', (x, spatial)),
        ('sigmoid_gate', (x, full)),
        ('gated_spatial_stats', (x, channel)),
        ('channel_spatial_gate', (x, channel, spatial)),
        ('same_conv2d', (x, tensor(C, 1, 3, 3), 2, C)),
        ('same_conv2d', (x, tensor(1, C, 7, 7), 1, 1)),
        ('pointwise_conv2d', (x, tensor(4, C, 1, 1))),
        ('batch_norm', (x, tensor(C), tensor(C), *running_stats(device), True, 0.1, 1e-5)),
        ('batch_norm', (x, None, None, *running_stats(device), True, 0.1, 1e-5)),
        ('batch_norm', (x, tensor(C), tensor(C), *running_stats(device), False, 0.1, 1e-5)),
        ('batch_norm', (x, tensor(C), None, *running_stats(device), True, 0.1, 1e-5, True)),
        ('channel_mlp', (channel, channel, tensor(5, C), tensor(5), tensor(C, 5), tensor(C))),
        ('channel_mlp', (channel, None, tensor(5, C), None, tensor(C, 5), None)),
        ('channel_mlp_attention', (x, tensor(5, C), None, tensor(C, 5), None, False)),
        ('channel_mlp_attention', (x, tensor(5, C), tensor(5), tensor(C, 5), tensor(C), True)),
        ('cbam_mlp_attention', (x, tensor(5, C), tensor(5), tensor(C, 5), tensor(C),
                                tensor(1, 2, 7, 7), tensor(1), tensor(1), *running_stats(device, 1),
                                True, 0.1, 1e-5)),
        ('cbam_mlp_attention', (x, tensor(5, C), None, tensor(C, 5), None, tensor(1, 2, 3, 3),
                                None, None, *running_stats(device, 1), False, 0.1, 1e-5)),
        ('sep_conv_gate', (x, *gate_stage(tensor, device, C, C, True), *gate_stage(
            tensor, device, C, C, True), False)),
        ('sep_conv_gate', (wide, *gate_stage(tensor, device, 6, 6, False), *gate_stage(
            tensor, device, 6, 6, False), False)),
        ('sep_conv_gate', (x, *gate_stage(tensor, device, 2, 2, True), *gate_stage(
            tensor, device, 2, 1, False), True)),
    ]


def gate_stage(tensor, device, width, out, training):
    """One stage's arguments of ``sep_conv_gate``: its depthwise and 1 x 1 kernels
    (``width`` -> ``out``), then its batch norm's (affine in training, not in evaluation)."""
    bn = (tensor(out), tensor(out)) if training else (None, None)
    return (tensor(width, 1, 3, 3), tensor(out, width, 1, 1), *bn, *running_stats(device, out),
            training, 0.1, 1e-5, None)


def running_stats(device, channels=C):
    """A running mean and variance of ``channels`` channels."""
    return (torch.randn(channels, dtype=torch.float64, device=device),
            torch.rand(channels, dtype=torch.float64, device=device) + 0.5)


def backward_cases(device):
    """(operator name, arguments) pairs; they call the extension, so tests build them."""

    def tensor(*shape):
        return torch.randn(shape, dtype=torch.float64, device=device)

    ops = torch.ops.autola_mm
    x = tensor(N, C, H, W)
    channel, spatial, grad_stats = tensor(N, C, 1, 1), tensor(N, 1, H, W), tensor(N, 2, H, W)
    # The saved statistics must be those of x: the backward looks for the maximum.
    stats = ops.spatial_stats(x)
    gated_stats = ops.gated_spatial_stats(x, channel)
    return [
        ('channel_stats_backward', (channel, channel, x, x.amax(dim=(2, 3), keepdim=True))),
        ('spatial_stats_backward', (grad_stats, x, stats)),
        ('sigmoid_gate_backward', (x, x, channel)),
        ('gated_spatial_stats_backward', (grad_stats, x, channel, gated_stats)),
        ('channel_spatial_gate_backward', (x, x, channel, spatial)),
        ('same_conv2d_backward', (x, x, tensor(C, 1, 3, 3), 2, C, [True, True])),
        ('same_conv2d_backward', (x, x, tensor(C, 1, 3, 3), 2, C, [True, False])),
        ('same_conv2d_backward', (x, x, tensor(C, 1, 3, 3), 2, C, [False, True])),
        ('pointwise_conv2d_backward_input', (tensor(N, 4, H, W), x, tensor(4, C, 1, 1))),
        ('pointwise_conv2d_backward_weight', (tensor(N, 4, H, W), x, tensor(4, C, 1, 1))),
        ('batch_norm_backward', (x, x, tensor(C), None, None, *batch_moments(x), True, 1e-5)),
        ('batch_norm_backward', (x, x, None, *running_stats(device), *running_moments(device),
                                 False, 1e-5)),
        ('batch_norm_backward', (x, x, tensor(C), None, None, *batch_moments(x), True, 1e-5,
                                 tensor(N, C, H, W))),
        ('channel_mlp_backward', (channel, channel, channel, tensor(5, C), tensor(5),
                                  tensor(C, 5))),
        ('channel_mlp_backward', (channel, channel, None, tensor(5, C), None, tensor(C, 5))),
    ]


def batch_moments(x):
    """The mean and 1 / std of every channel of x, as batch_norm saves them in training."""
    return x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False).add(1e-5).rsqrt()


def running_moments(device):
    """The mean and 1 / std batch_norm saves in evaluation, from running_stats(device)."""
    mean, var = running_stats(device)
    return mean, var.add(1e-5).rsqrt()


def fused_backward_cases(device):
    """The steps of the fused SE and CBAM backward passes, on consistent saved tensors."""

    def tensor(*shape):
        return torch.randn(shape, dtype=torch.float64, device=device)

    ops = torch.ops.autola_mm
    x, grad = tensor(N, C, H, W), tensor(N, C, H, W)
    channel, spatial = tensor(N, C, 1, 1), tensor(N, 1, H, W)
    grad_avg, grad_max, grad_pooled = tensor(N, C, 1, 1), tensor(N, C, 1, 1), tensor(N, 2, H, W)
    channel_max = x.amax(dim=(2, 3), keepdim=True)
    pooled = ops.gated_spatial_stats(x, channel)
    _, se_ties = ops.channel_attention_backward_logits(grad, x, channel, channel_max)
    _, cbam_ties = ops.cbam_backward_pool_logits(grad_pooled, x, channel, pooled, channel_max)
    return [
        ('channel_attention_backward_logits', (grad, x, channel, channel_max)),
        ('channel_attention_backward_input',
         (grad, x, channel, channel_max, se_ties, grad_avg, grad_max)),
        ('cbam_backward_gate_logits', (grad, x, channel, spatial)),
        ('cbam_backward_pool_logits', (grad_pooled, x, channel, pooled, channel_max)),
        ('cbam_backward_input', (grad, x, channel, spatial, pooled, grad_pooled, channel_max,
                                 cbam_ties, grad_avg, grad_max)),
    ]


def check(name, args):
    torch.library.opcheck(getattr(torch.ops.autola_mm, name).default, args)


@pytest.mark.parametrize('case', range(23))
def test_forward_operator(compiled_device, case):
    check(*forward_cases(compiled_device)[case])


@pytest.mark.parametrize('case', range(15))
def test_backward_operator(compiled_device, case):
    check(*backward_cases(compiled_device)[case])


@pytest.mark.parametrize('case', range(5))
def test_fused_backward_operator(compiled_device, case):
    check(*fused_backward_cases(compiled_device)[case])


def channels_last(value, dtype):
    """A tensor detached, in ``dtype`` if floating, in channels-last memory if 4-d;
    any other value as it is."""
    if not isinstance(value, torch.Tensor):
        return value
    value = value.detach()
    if value.is_floating_point():
        value = value.to(dtype)
    return value.contiguous(memory_format=torch.channels_last) if value.dim() == 4 else value


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32, torch.float16],
                         ids=['float64', 'float32', 'float16'])
@pytest.mark.parametrize('cases', [forward_cases, backward_cases, fused_backward_cases])
def test_outputs_are_contiguous_whatever_the_inputs_layout(compiled_device, cases, dtype):
    # The Meta kernels declare contiguous outputs and torch.compile lays out its
    # buffers by them; cuDNN's convolution and ATen's batch norm, which the CUDA
    # kernels call, would follow a channels-last input (cuDNN where it computes:
    # float32 and float16 rather than float64). Values need not be meaningful here.
    if compiled_device == 'cpu' and dtype == torch.float16:
        pytest.skip('the CPU kernels compute float32 and float64 maps')
    for name, args in cases(compiled_device):
        with torch.no_grad():
            outputs = getattr(torch.ops.autola_mm, name)(
                *(channels_last(arg, dtype) for arg in args))
        for out in outputs if isinstance(outputs, (tuple, list)) else (outputs, ):
            if isinstance(out, torch.Tensor) and out.dim() == 4:
                assert out.is_contiguous(), f'{name}: an output of strides {out.stride()}'


def test_every_operator_is_checked(needs_compiled):
    names = {name for cases in (forward_cases('cpu'), backward_cases('cpu'),
                                fused_backward_cases('cpu')) for name, _ in cases}
    registered = {schema.name.split('::')[1] for schema in torch._C._jit_get_all_schemas()
                  if schema.name.startswith('autola_mm::')}
    assert names == registered


def test_meta_kernels_check_arguments(needs_compiled):
    x = torch.empty(2, 3, 4, 5, device='meta')
    pooled = torch.ops.autola_mm.gated_spatial_stats(x, torch.empty(2, 3, 1, 1, device='meta'))
    assert pooled.shape == (2, 2, 4, 5) and pooled.device.type == 'meta'
    with pytest.raises(ValueError, match='channel_logits must have shape'):
        torch.ops.autola_mm.gated_spatial_stats(x, torch.empty(2, 1, 4, 5, device='meta'))
