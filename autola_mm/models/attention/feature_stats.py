"""Pooled statistics of one feature map, computed once and shared.

In HOGA (Auto Learning Attention, Ma et al., NeurIPS 2020) several operations
read the same tensor: a node feeds every later node, and during the search
every candidate operation of an edge reads the edge's input. SE, SE_A_M and
CBAM pool the channels (average and maximum over H x W); the spatial gates and
CBAM pool the positions (maximum and mean over C). ``FeatureStats`` computes
each of these at most once per tensor, through :mod:`autola_mm.ops`.
"""
from typing import Optional, Tuple

from torch import Tensor

from ...ops import channel_stats, spatial_stats


class FeatureStats:
    """Lazily computed, cached pooling of one feature map.

    Args:
        x (Tensor): Feature map of shape (N, C, H, W).
    """

    __slots__ = ('x', '_channel_stats', '_spatial_stats')

    def __init__(self, x: Tensor):
        self.x = x
        self._channel_stats: Optional[Tuple[Tensor, Tensor]] = None
        self._spatial_stats: Optional[Tensor] = None

    @classmethod
    def of(cls, x: Tensor, stats: Optional['FeatureStats'] = None) -> 'FeatureStats':
        """The statistics of ``x``: ``stats`` if given, else new ones.

        Args:
            x (Tensor): Feature map of shape (N, C, H, W).
            stats (FeatureStats, optional): Statistics an earlier caller made.

        Returns:
            FeatureStats: Statistics whose tensor is ``x``.
        """
        if stats is None:
            return cls(x)
        if stats.x is not x:
            raise ValueError('stats describe another tensor than x: pass '
                             'FeatureStats(x) for the x being gated')
        return stats

    @property
    def channel_stats(self) -> Tuple[Tensor, Tensor]:
        """tuple[Tensor, Tensor]: ``(avg, max)`` over H x W, each (N, C, 1, 1)."""
        if self._channel_stats is None:
            self._channel_stats = channel_stats(self.x)
        return self._channel_stats

    @property
    def spatial_stats(self) -> Tensor:
        """Tensor: ``[max_c, mean_c]`` at every position, shape (N, 2, H, W)."""
        if self._spatial_stats is None:
            self._spatial_stats = spatial_stats(self.x)
        return self._spatial_stats
