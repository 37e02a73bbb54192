"""The attention core: pooling, gating and convolutions shared by SE, CBAM and HOGA.

Two paths with the same functions and the same numbers: :mod:`.compiled`
(the operators ``torch.ops.autola_mm.*``) and :mod:`.reference` (pure
PyTorch, the specification). A module asks :func:`ops_for` for the path of
its input once per call; the choice is made once per device type and dtype
(see :mod:`.extension` and ``AUTOLA_OPS``). Traced by ``torch.compile``, the
compiled path is :mod:`.traced`: the reference's pools, gates and batch
norms, which the compiler fuses, and the compiled convolutions.
"""
from . import compiled, reference, traced
from .extension import (OPS_ENV, active_ops_path, compiled_ops_available, forced_ops_mode,
                        ops_for)

#: The functions every path defines.
FUNCTIONS = ('channel_stats', 'spatial_stats', 'sigmoid_gate', 'gated_spatial_stats',
             'channel_spatial_gate', 'same_conv2d', 'pointwise_conv2d', 'channel_attention',
             'cbam_attention', 'batch_norm', 'channel_mlp', 'channel_mlp_attention',
             'cbam_mlp_attention', 'sep_conv_gate')

__all__ = [
    'compiled', 'reference', 'traced', 'ops_for', 'active_ops_path', 'compiled_ops_available',
    'forced_ops_mode', 'OPS_ENV', 'FUNCTIONS'
]
