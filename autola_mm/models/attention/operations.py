"""The nine candidate operations of HOGA (Auto Learning Attention, NeurIPS 2020).

``PRIMITIVES`` fixes their order, which is the column order of the search's
architecture matrix ``alpha``. ``OPERATIONS`` maps each name to a builder
``(channels, affine=True) -> nn.Module``; every module it builds maps
``(N, C, H, W)`` to ``(N, C, H, W)`` with ``forward(x, stats=None)``. The
``SE``, ``SE_A_M`` and ``CBAM`` operations are the :class:`SE` and
:class:`CBAM` plugins at reduction 4.
"""
from types import MappingProxyType

from torch import nn

from .cbam import CBAM
from .conv_gate import DilConvGate, DilConvSpatialGate, SepConvGate, SepConvSpatialGate
from .se import SE
from .zero_identity import Identity, Zero

#: Reduction of the SE, SE_A_M and CBAM operations (r = 4).
OPERATION_RD_RATIO = 1 / 4


def build_zero(channels: int, affine: bool = True) -> Zero:
    """``none``: see :class:`Zero`."""
    return Zero()


def build_identity(channels: int, affine: bool = True) -> Identity:
    """``skip_connect``: see :class:`Identity`."""
    return Identity()


def build_se(channels: int, affine: bool = True) -> SE:
    """``SE``: average-pooled SE at reduction 4 (it has no BN to make affine)."""
    return SE(channels, rd_ratio=OPERATION_RD_RATIO)


def build_se_avg_max(channels: int, affine: bool = True) -> SE:
    """``SE_A_M``: average- and max-pooled SE at reduction 4 (no BN)."""
    return SE(channels, rd_ratio=OPERATION_RD_RATIO, with_max_pool=True)


def build_cbam(channels: int, affine: bool = True) -> CBAM:
    """``CBAM``: CBAM at reduction 4, its spatial BN affine or not."""
    return CBAM(channels, rd_ratio=OPERATION_RD_RATIO, affine=affine)


OPERATIONS = MappingProxyType({
    'none': build_zero,
    'skip_connect': build_identity,
    'sep_conv_3x3': SepConvGate,
    'dil_conv_3x3': DilConvGate,
    'sep_conv_3x3_spatial': SepConvSpatialGate,
    'dil_conv_3x3_spatial': DilConvSpatialGate,
    'SE': build_se,
    'SE_A_M': build_se_avg_max,
    'CBAM': build_cbam,
})

PRIMITIVES = tuple(OPERATIONS)


def build_operation(name: str, channels: int, affine: bool = True) -> nn.Module:
    """Build the HOGA operation ``name``.

    Args:
        name (str): One of :data:`PRIMITIVES`.
        channels (int): Channels of the group the operation gates.
        affine (bool): Whether its BNs are affine (False during search).

    Returns:
        nn.Module: The operation, ``(N, C, H, W) -> (N, C, H, W)``.
    """
    if name not in OPERATIONS:
        raise KeyError(f'unknown HOGA operation {name!r}; known: {", ".join(PRIMITIVES)}')
    return OPERATIONS[name](channels, affine=affine)
