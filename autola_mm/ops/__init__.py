"""The attention core: pooling and gating shared by SE, CBAM and HOGA.

Modules call these functions only. They dispatch to the compiled operators
where those are built and cover the input, and to :mod:`.reference` otherwise.
"""
from .reference import (channel_spatial_gate, channel_stats, gated_spatial_stats,
                        sigmoid_gate, spatial_stats)

__all__ = [
    'channel_stats', 'spatial_stats', 'sigmoid_gate', 'gated_spatial_stats',
    'channel_spatial_gate'
]
