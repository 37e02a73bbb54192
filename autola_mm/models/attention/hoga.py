"""High Order Group Attention (HOGA) of Auto Learning Attention (Ma et al., NeurIPS 2020).

HOGA splits ``x`` (N, C, H, W) into ``k`` channel groups ``g_0..g_{k-1}`` and
computes ``k`` nodes: node ``n_i`` sums the operations of its ``i`` incoming
edges, each reading slot 0 (group ``g_{i-1}``) or an earlier node. A global
branch ``s = SE(g_0 + ... + g_{k-1})`` joins the nodes::

    y = BN(conv1x1(ReLU(BN(conv1x1(concat(n_1, ..., n_k, s))))))  # 5C/4 -> C -> C
    out = SE(y + x)

Both SEs have reduction 8 and the authors' hidden width ``floor(C / r)``.
"""
import itertools
from typing import Callable, List, Optional, Sequence

import torch
from mmcv.cnn import build_activation_layer
from mmengine.registry import MODELS
from torch import Tensor, nn

from .batch_norm import norm_act
from .genotype import Genotype, GenotypeSpec
from .input_check import check_feature_map
from .layer_configs import DEFAULT_ACT_CFG, DEFAULT_NORM_CFG, ConfigType, build_norm
from .operations import build_operation
from .same_conv import SameConv2d
from .se import SE
from .weight_init import init_attention_weights


def group_width(in_channels: int, groups: int) -> int:
    """Channels of one group, ``in_channels // groups``, once both are checked."""
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f'in_channels={in_channels!r}: expected a positive int')
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f'groups={groups!r}: expected a positive int')
    if in_channels % groups:
        raise ValueError(f'in_channels={in_channels} is not divisible by groups={groups}')
    return in_channels // groups


class HOGABase(nn.Module):
    """The part of HOGA that does not depend on its edges: groups, DAG walk, projection.

    :class:`HOGA` gives it the operations of a genotype, the search cell
    (``SearchHOGA``) its mixed edges; each runs :meth:`attend` with its edges.

    Args:
        in_channels (int): Channels ``C``; a multiple of ``groups``.
        groups (int): Number of channel groups and nodes ``k``.
        node_slots (Sequence[Sequence[int]]): For every node, the slot each of
            its edges reads, in the order the node sums them; edges are
            numbered in this order.
        edges (Sequence[nn.Module]): The edge modules in that order, each
            (N, C/k, H, W) -> (N, C/k, H, W).
        rd_ratio (float): Hidden width of the group SE and the output SE as a
            fraction of their channels. Default: 1 / 8.
        min_rd_channels (int): Lower bound of those hidden widths. Default: 0.
        norm_cfg (dict): The projection's norm layers. Default: ``dict(type='BN')``.
        act_cfg (dict): Every activation of the SEs and the projection.
            Default: ``dict(type='ReLU')``.

    Attributes:
        node_edges (tuple): For every node, its edges as ``(edge_index, slot)``.
    """

    def __init__(self, in_channels: int, groups: int, node_slots: Sequence[Sequence[int]],
                 edges: Sequence[nn.Module], *, rd_ratio: float = 1 / 8, min_rd_channels: int = 0,
                 norm_cfg: ConfigType = DEFAULT_NORM_CFG, act_cfg: ConfigType = DEFAULT_ACT_CFG):
        super().__init__()
        self.in_channels = in_channels
        self.groups = groups
        self.group_channels = group_width(in_channels, groups)
        index = itertools.count()
        self.node_edges = tuple(tuple((next(index), slot) for slot in slots)
                                for slots in node_slots)

        self.group_se = SE(
            self.group_channels, rd_ratio, min_rd_channels=min_rd_channels, act_cfg=act_cfg)
        self.edges = nn.ModuleList(edges)
        self.proj_conv1 = SameConv2d(self.group_channels * (groups + 1), in_channels, 1)
        self.proj_bn1 = build_norm(norm_cfg, in_channels)
        self.proj_act = build_activation_layer(act_cfg)
        self.proj_conv2 = SameConv2d(in_channels, in_channels, 1)
        self.proj_bn2 = build_norm(norm_cfg, in_channels)
        self.out_se = SE(in_channels, rd_ratio, min_rd_channels=min_rd_channels, act_cfg=act_cfg)

    def extra_repr(self) -> str:
        """The constructor arguments that shape the module."""
        return f'in_channels={self.in_channels}, groups={self.groups}'

    def init_weights(self) -> None:
        """Kaiming conv and linear weights, BN weight 1 and bias 0."""
        init_attention_weights(self)

    def attend(self, x: Tensor, edges: Sequence[Callable[[Tensor], Tensor]]) -> Tensor:
        """Attend over the channel groups of ``x`` with ``edges[e]`` on edge ``e``.

        Args:
            x (Tensor): Shape (N, C, H, W).
            edges (Sequence[Callable[[Tensor], Tensor]]): What every edge
                computes from the slot it reads, (N, C/k, H, W) -> (N, C/k, H, W).

        Returns:
            Tensor: Shape (N, C, H, W).
        """
        check_feature_map(x, self.in_channels)
        # Each group once as a contiguous map: the compiled attention core
        # reads contiguous maps and would otherwise copy a group for every
        # operation that reads it.
        groups = [group.contiguous() for group in torch.split(x, self.group_channels, dim=1)]
        # g_0 + ... + g_{k-1} as one sum over the groups of x: one operator
        # each way where a chain of additions makes k - 1, and gradients that
        # reach x directly rather than each group's.
        summary = self.group_se(x.unflatten(1, (self.groups, self.group_channels)).sum(dim=1))
        nodes: List[Tensor] = []
        for group, node_edges in zip(groups, self.node_edges):
            slots = [group] + nodes
            node: Optional[Tensor] = None
            for edge_index, slot in node_edges:
                out = edges[edge_index](slots[slot])
                node = out if node is None else node + out
            nodes.append(node)
        y = torch.cat(nodes + [summary], dim=1)
        y = norm_act(self.proj_bn1, self.proj_act, self.proj_conv1(y))
        y = self.proj_bn2(self.proj_conv2(y))
        return self.out_se(y + x)


@MODELS.register_module()
class HOGA(HOGABase):
    """High order group attention, an mmcv plugin mapping (N, C, H, W) to itself.

    Args:
        in_channels (int): Channels ``C``; a multiple of ``groups``.
        genotype: The edges, in any form :meth:`Genotype.build` accepts.
            Default: None, the published genotype.
        groups (int): Number of channel groups and nodes ``k``. Default: 4.
        rd_ratio (float): Hidden width of the group SE and the output SE as a
            fraction of their channels. Default: 1 / 8.
        min_rd_channels (int): Lower bound of those hidden widths. Default: 0,
            the authors' ``floor``, which makes the group SE a constant 0.5
            gate for C < 32.
        norm_cfg (dict): Every norm layer inside: the projection's and the
            operations'. Default: ``dict(type='BN')``.
        act_cfg (dict): Every activation inside. Default: ``dict(type='ReLU')``.

    Attributes:
        genotype (Genotype): The validated genotype; edge ``e`` is
            ``genotype.edges[e]``.
    """

    _abbr_ = 'hoga'

    def __init__(self,
                 in_channels: int,
                 genotype: GenotypeSpec = None,
                 groups: int = 4,
                 rd_ratio: float = 1 / 8,
                 min_rd_channels: int = 0,
                 norm_cfg: ConfigType = DEFAULT_NORM_CFG,
                 act_cfg: ConfigType = DEFAULT_ACT_CFG):
        width = group_width(in_channels, groups)
        genotype = Genotype.build(genotype, groups)
        edges = [build_operation(op, width, norm_cfg=norm_cfg, act_cfg=act_cfg)
                 for op, _ in genotype.edges]
        node_slots = [[slot for _, slot in node] for node in genotype.nodes]
        super().__init__(in_channels, groups, node_slots, edges, rd_ratio=rd_ratio,
                         min_rd_channels=min_rd_channels, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.genotype = genotype

    def extra_repr(self) -> str:
        """The constructor arguments that shape the module, genotype included."""
        return f'{super().extra_repr()}, genotype={str(self.genotype)!r}'

    def forward(self, x: Tensor) -> Tensor:
        """Attend over the channel groups of ``x``.

        Args:
            x (Tensor): Shape (N, C, H, W).

        Returns:
            Tensor: Shape (N, C, H, W).
        """
        return self.attend(x, self.edges)
