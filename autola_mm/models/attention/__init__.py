"""Attention modules of Auto Learning Attention (AutoLA, NeurIPS 2020): SE, CBAM, HOGA."""
from .cbam import CBAM
from .channel_mlp import ChannelMLP, reduced_channels
from .conv_gate import ConvPointwiseBN, DilConvGate, SepConvGate
from .genotype import DEFAULT_GENOTYPE, Genotype
from .hoga import HOGA
from .layer_configs import build_norm
from .operations import OPERATIONS, PRIMITIVES, build_operation
from .se import SE
from .zero_identity import Identity, Zero

__all__ = [
    'SE', 'CBAM', 'HOGA', 'Genotype', 'DEFAULT_GENOTYPE', 'PRIMITIVES',
    'OPERATIONS', 'build_operation', 'ChannelMLP', 'reduced_channels', 'ConvPointwiseBN',
    'SepConvGate', 'DilConvGate', 'Zero', 'Identity', 'build_norm'
]
