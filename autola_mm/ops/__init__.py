"""The attention core: pooling, gating and convolutions shared by SE, CBAM and HOGA.

Two paths with the same functions and the same numbers: :mod:`.compiled`
(the operators ``torch.ops.autola_mm.*``) and :mod:`.reference` (pure
PyTorch, the specification). A module asks :func:`ops_for` for the path of
its input once per call; the choice is made once per device type and dtype
(see :mod:`.extension` and ``AUTOLA_OPS``).
"""
from . import compiled, reference
from .extension import (OPS_ENV, active_ops_path, compiled_ops_available, forced_ops_mode,
                        ops_for)

#: The functions both paths define.
FUNCTIONS = ('channel_stats', 'spatial_stats', 'sigmoid_gate', 'gated_spatial_stats',
             'channel_spatial_gate', 'same_conv2d', 'pointwise_conv2d', 'channel_attention',
             'cbam_attention')

__all__ = [
    'compiled', 'reference', 'ops_for', 'active_ops_path', 'compiled_ops_available',
    'forced_ops_mode', 'OPS_ENV', 'FUNCTIONS'
]
