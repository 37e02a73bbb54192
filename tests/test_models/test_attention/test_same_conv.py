"""SameConv2d: the gates' convolutions, routed to the compiled core by their shape."""
import pytest
import torch
from torch import nn

from autola_mm.models.attention.same_conv import SameConv2d



@pytest.mark.parametrize('args, kwargs, direct, pointwise', [
    ((16, 16, 3), dict(groups=16), True, False),  # depthwise
    ((2, 1, 7), {}, True, False),  # CBAM's spatial conv
    ((4, 4, 1), {}, True, False),  # a 16-channel HOGA's pointwise conv
    ((64, 64, 1), {}, False, True),  # a 256-channel HOGA's pointwise conv
    ((320, 256, 1), {}, False, True),  # HOGA's projection
    ((16, 16, 3), {}, False, False),  # a dense 3x3: nn.Conv2d's forward
])
def test_route_and_result_equal_nn_conv2d(ops_mode, args, kwargs, direct, pointwise):
    torch.manual_seed(0)
    conv = SameConv2d(*args, dilation=2, **kwargs) if args[2] > 1 else SameConv2d(*args, **kwargs)
    assert (conv.direct, conv.pointwise) == (direct, pointwise)
    plain = nn.Conv2d(args[0], args[1], args[2], padding=conv.padding, dilation=conv.dilation,
                      groups=conv.groups, bias=False)
    assert conv.state_dict().keys() == plain.state_dict().keys()
    plain.load_state_dict(conv.state_dict())
    x = torch.randn(2, args[0], 9, 7, requires_grad=True)
    x_plain = x.detach().clone().requires_grad_()
    out = conv(x)
    torch.testing.assert_close(out, plain(x_plain), rtol=1e-5, atol=1e-5)
    out.square().sum().backward()
    plain(x_plain).square().sum().backward()
    torch.testing.assert_close(x.grad, x_plain.grad, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(conv.weight.grad, plain.weight.grad, rtol=1e-5, atol=1e-3)


def test_even_kernel_is_refused():
    with pytest.raises(ValueError, match='kernel_size=4'):
        SameConv2d(2, 1, 4)
