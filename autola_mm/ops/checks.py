"""Argument checks shared by the compiled and the reference attention core.

Both paths reject the same inputs, early and with a ValueError that names the
function, the argument, its shape and what is accepted.
"""
from typing import Sequence

from torch import Tensor


def check_feature_map(op: str, x: Tensor) -> None:
    """Check that ``x`` is a floating point (N, C, H, W) tensor."""
    if not isinstance(x, Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f'{op}: x must be a 4-D (N, C, H, W) feature map, got {shape}')
    if not x.is_floating_point():
        raise ValueError(f'{op}: x must be a floating point tensor, got {x.dtype}')


def check_positions(op: str, x: Tensor) -> None:
    """Check that ``x`` has positions to pool over (H * W > 0)."""
    if x.shape[2] * x.shape[3] == 0:
        raise ValueError(f'{op}: x must have at least one position (H * W > 0) to pool '
                         f'over, got shape {tuple(x.shape)}')


def check_channels(op: str, x: Tensor) -> None:
    """Check that ``x`` has channels to pool over (C > 0)."""
    if x.shape[1] == 0:
        raise ValueError(f'{op}: x must have at least one channel (C > 0) to pool over, '
                         f'got shape {tuple(x.shape)}')


def check_logits(op: str, name: str, logits: Tensor, x: Tensor,
                 accepted: Sequence[str]) -> None:
    """Check that ``logits`` has one of the accepted shapes for ``x``.

    Args:
        op (str): The function being called, for the message.
        name (str): The argument's name, for the message.
        logits (Tensor): The gate logits.
        x (Tensor): The (N, C, H, W) feature map they gate.
        accepted (Sequence[str]): Accepted shapes among ``'N,C,1,1'``,
            ``'N,1,H,W'`` and ``'N,C,H,W'``.
    """
    if not isinstance(logits, Tensor):
        raise ValueError(f'{op}: {name} must be a tensor, got {type(logits).__name__}')
    n, c, h, w = x.shape
    shapes = {'N,C,1,1': (n, c, 1, 1), 'N,1,H,W': (n, 1, h, w), 'N,C,H,W': (n, c, h, w)}
    if tuple(logits.shape) not in [shapes[key] for key in accepted]:
        names = [f'({key.replace(",", ", ")})' for key in accepted]
        expected = ' or '.join([', '.join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise ValueError(f'{op}: {name} must have shape {expected} for x of shape '
                         f'{tuple(x.shape)}, got {tuple(logits.shape)}')


def check_conv_weight(op: str, weight: Tensor, x: Tensor, dilation: int, groups: int) -> None:
    """Check a (C_out, C / groups, kH, kW) kernel with odd sizes for ``x`` (N, C, H, W)."""
    for name, value in (('dilation', dilation), ('groups', groups)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f'{op}: {name} must be a positive int, got {value!r}')
    if not isinstance(weight, Tensor) or weight.dim() != 4:
        shape = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f'{op}: weight must be 4-D (C_out, C / groups, kH, kW), got {shape}')
    channels = x.shape[1]
    if channels % groups or weight.shape[0] % groups:
        raise ValueError(f'{op}: the channels of x ({channels}) and of the output '
                         f'({weight.shape[0]}) must be multiples of groups={groups}')
    if weight.shape[1] * groups != channels:
        raise ValueError(f'{op}: weight of shape {tuple(weight.shape)} reads '
                         f'{weight.shape[1] * groups} channels with groups={groups}, but x of '
                         f'shape {tuple(x.shape)} has {channels}')
    if weight.shape[2] % 2 == 0 or weight.shape[3] % 2 == 0:
        raise ValueError(f'{op}: the kernel must have odd sizes to keep H x W, got '
                         f'{weight.shape[2]} x {weight.shape[3]}')


def check_pointwise_weight(op: str, weight: Tensor, x: Tensor) -> None:
    """Check a (C_out, C, 1, 1) kernel for ``x`` (N, C, H, W)."""
    if not isinstance(weight, Tensor) or weight.dim() != 4 or tuple(weight.shape[2:]) != (1, 1):
        shape = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f'{op}: weight must have shape (C_out, C, 1, 1), got {shape}')
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f'{op}: weight of shape {tuple(weight.shape)} reads {weight.shape[1]} '
                         f'channels, but x of shape {tuple(x.shape)} has {x.shape[1]}')
