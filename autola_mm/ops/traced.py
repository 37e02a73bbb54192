"""The attention core as ``torch.compile`` traces it on the compiled path.

Under ``torch.compile`` the pools, gates, batch norms and channel MLPs are worth more to
the compiler as plain PyTorch than as opaque operators: Inductor fuses them
with the operations around them (a gate with the BN and the activation
before it, a pool with the convolution that makes its input), which no fixed
operator can. The convolutions stay on the compiled operators, faster than the
convolutions the compiler would call for the gates' small grouped kernels (CBAM's
pattern with its layers composes both).
:func:`autola_mm.ops.ops_for` gives this module to modules traced by
``torch.compile`` where it would give :mod:`.compiled` in eager mode; it
has the same functions with the same numbers.
"""
from . import compiled, reference
from .extension import compiled_ops_available
from .reference import (batch_norm, cbam_attention, channel_attention, channel_mlp,
                        channel_mlp_attention, channel_spatial_gate, channel_stats,
                        gated_spatial_stats, sigmoid_gate, spatial_stats)

if compiled_ops_available():
    same_conv2d = compiled.same_conv2d
    pointwise_conv2d = compiled.pointwise_conv2d
    cbam_mlp_attention = reference.cbam_mlp_composition(cbam_attention, channel_mlp, same_conv2d,
                                                        batch_norm)
    sep_conv_gate = reference.sep_conv_gate_composition(spatial_stats, same_conv2d,
                                                        pointwise_conv2d, batch_norm, sigmoid_gate)

__all__ = [
    'channel_stats', 'spatial_stats', 'sigmoid_gate', 'gated_spatial_stats',
    'channel_spatial_gate', 'same_conv2d', 'pointwise_conv2d', 'channel_attention',
    'cbam_attention', 'batch_norm', 'channel_mlp', 'channel_mlp_attention',
    'cbam_mlp_attention', 'sep_conv_gate'
]
