"""The parameter-free HOGA operations ``none`` and ``skip_connect``.

Auto Learning Attention (Ma et al., NeurIPS 2020) keeps DARTS' ``none``
(an edge that contributes nothing) and ``skip_connect`` (the identity).
"""
import torch
from torch import Tensor, nn


class Zero(nn.Module):
    """``none``: zeros shaped like the input. A mixed search edge skips it."""

    def forward(self, x: Tensor) -> Tensor:
        """Zeros like ``x``.

        Args:
            x (Tensor): Shape (N, C, H, W).

        Returns:
            Tensor: Zeros of the shape, dtype and memory format of ``x``.
        """
        return torch.zeros_like(x)


class Identity(nn.Module):
    """``skip_connect``: the input itself."""

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x``.

        Args:
            x (Tensor): Shape (N, C, H, W).

        Returns:
            Tensor: ``x``.
        """
        return x
