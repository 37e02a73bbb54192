"""The nine candidate operations of HOGA (Auto Learning Attention, NeurIPS 2020).

``PRIMITIVES`` fixes their order, which is the column order of the search's
architecture matrix ``alpha``. ``OPERATIONS`` is the factory: it maps each
name to a builder ``(channels, norm_cfg, act_cfg) -> nn.Module``; every module
it builds maps ``(N, C, H, W)`` to ``(N, C, H, W)`` with ``forward(x)``. The
``SE``, ``SE_A_M`` and ``CBAM`` operations are the :class:`SE` and
:class:`CBAM` plugins at reduction 4; ``CBAM``'s BN keeps its momentum of
0.01 unless ``norm_cfg`` names one.
"""
from types import MappingProxyType

from torch import nn

from .cbam import CBAM, CBAM_NORM_CFG
from .conv_gate import DilConvGate, SepConvGate
from .layer_configs import DEFAULT_ACT_CFG, DEFAULT_NORM_CFG, ConfigType
from .se import SE
from .zero_identity import Identity, Zero

#: Reduction of the SE, SE_A_M and CBAM operations (r = 4).
OPERATION_RD_RATIO = 1 / 4

OPERATIONS = MappingProxyType({
    'none':
    lambda channels, norm_cfg, act_cfg: Zero(),
    'skip_connect':
    lambda channels, norm_cfg, act_cfg: Identity(),
    'sep_conv_3x3':
    lambda channels, norm_cfg, act_cfg: SepConvGate(
        channels, norm_cfg=norm_cfg, act_cfg=act_cfg),
    'dil_conv_3x3':
    lambda channels, norm_cfg, act_cfg: DilConvGate(channels, norm_cfg=norm_cfg),
    'sep_conv_3x3_spatial':
    lambda channels, norm_cfg, act_cfg: SepConvGate(
        channels, spatial=True, norm_cfg=norm_cfg, act_cfg=act_cfg),
    'dil_conv_3x3_spatial':
    lambda channels, norm_cfg, act_cfg: DilConvGate(channels, spatial=True, norm_cfg=norm_cfg),
    'SE':
    lambda channels, norm_cfg, act_cfg: SE(
        channels, rd_ratio=OPERATION_RD_RATIO, act_cfg=act_cfg),
    'SE_A_M':
    lambda channels, norm_cfg, act_cfg: SE(
        channels, rd_ratio=OPERATION_RD_RATIO, with_max_pool=True, act_cfg=act_cfg),
    'CBAM':
    lambda channels, norm_cfg, act_cfg: CBAM(
        channels, rd_ratio=OPERATION_RD_RATIO, norm_cfg={**CBAM_NORM_CFG, **norm_cfg},
        act_cfg=act_cfg),
})

PRIMITIVES = tuple(OPERATIONS)


def build_operation(name: str,
                    channels: int,
                    affine: bool = True,
                    norm_cfg: ConfigType = DEFAULT_NORM_CFG,
                    act_cfg: ConfigType = DEFAULT_ACT_CFG) -> nn.Module:
    """Build the HOGA operation ``name``.

    Args:
        name (str): One of :data:`PRIMITIVES`.
        channels (int): Channels of the group the operation gates.
        affine (bool): Whether its BNs are affine (False during search).
        norm_cfg (dict): Its norm layers. Default: ``dict(type='BN')``.
        act_cfg (dict): Its activations. Default: ``dict(type='ReLU')``.

    Returns:
        nn.Module: The operation, ``(N, C, H, W) -> (N, C, H, W)``.
    """
    if name not in OPERATIONS:
        raise KeyError(f'unknown HOGA operation {name!r}; known: {", ".join(PRIMITIVES)}')
    return OPERATIONS[name](channels, dict(norm_cfg, affine=affine), act_cfg)
