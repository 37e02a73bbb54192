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
