"""The input check of the attention modules that map (N, C, H, W) to itself."""
from torch import Tensor


def check_feature_map(x: Tensor, channels: int) -> None:
    """Raise a ValueError naming the shape unless ``x`` is (N, ``channels``, H, W).

    Args:
        x (Tensor): The module's input.
        channels (int): The module's ``in_channels``.
    """
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f'input of shape {tuple(x.shape)}: expected (N, {channels}, H, W)')
