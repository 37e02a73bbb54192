"""The attention core: pooling and gating shared by SE, CBAM and HOGA.

Modules call these functions only. They dispatch to the compiled operators
``torch.ops.autola_mm.*`` where those are built and cover the input, and to
:mod:`.reference` otherwise (see :mod:`.extension` and ``AUTOLA_OPS``).
:func:`channel_attention` (SE) and :func:`cbam_attention` (CBAM) compose them
into whole modules and, when training on the compiled ops, give them a fused
backward that writes the gradient of ``x`` once.
"""
from .cbam_attention import cbam_attention
from .channel_attention import channel_attention
from .channel_spatial_gate import channel_spatial_gate
from .channel_stats import channel_stats
from .extension import active_ops_path, compiled_ops_available
from .gated_spatial_stats import gated_spatial_stats
from .pointwise_conv2d import pointwise_conv2d
from .same_conv2d import same_conv2d
from .sigmoid_gate import sigmoid_gate
from .spatial_stats import spatial_stats

__all__ = [
    'channel_stats', 'spatial_stats', 'sigmoid_gate', 'gated_spatial_stats',
    'channel_spatial_gate', 'channel_attention', 'cbam_attention', 'same_conv2d',
    'pointwise_conv2d', 'compiled_ops_available', 'active_ops_path'
]
