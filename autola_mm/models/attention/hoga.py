"""High Order Group Attention (HOGA) of Auto Learning Attention (Ma et al., NeurIPS 2020).

HOGA splits ``x`` (N, C, H, W) into ``k`` channel groups ``g_0..g_{k-1}`` and
computes ``k`` nodes: node ``n_i`` sums the operations of its ``i`` incoming
edges, each reading slot 0 (group ``g_{i-1}``) or an earlier node. A global
branch ``s = SE(g_0 + ... + g_{k-1})`` joins the nodes::

    y = BN(conv1x1(ReLU(BN(conv1x1(concat(n_1, ..., n_k, s))))))  # 5C/4 -> C -> C
    out = SE(y + x)

Both SEs have reduction 8 and the authors' hidden width ``floor(C / r)``.
"""
from typing import List, Optional

import torch
from mmengine.registry import MODELS
from torch import Tensor, nn

from .feature_stats import FeatureStats
from .genotype import Genotype, GenotypeSpec
from .operations import build_operation
from .same_conv import SameConv2d
from .se import SE
from .weight_init import init_attention_weights


@MODELS.register_module()
class HOGA(nn.Module):
    """High order group attention, an mmcv plugin mapping (N, C, H, W) to itself.

    Subclasses (the search supernet) replace the edges only: override
    :meth:`build_edge` and :meth:`forward_edge`; the walk over slots and
    nodes, the concat and the projection stay here.

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

    Attributes:
        genotype (Genotype): The validated genotype.
        node_edges (tuple): For every node, its edges as
            ``(edge_index, op, slot)`` in genotype order.
    """

    _abbr_ = 'hoga'

    def __init__(self,
                 in_channels: int,
                 genotype: GenotypeSpec = None,
                 groups: int = 4,
                 rd_ratio: float = 1 / 8,
                 min_rd_channels: int = 0):
        super().__init__()
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f'in_channels={in_channels!r}: expected a positive int')
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(f'groups={groups!r}: expected a positive int')
        if in_channels % groups:
            raise ValueError(f'in_channels={in_channels} is not divisible by groups={groups}')
        self.genotype = Genotype.build(genotype, groups)
        self.in_channels = in_channels
        self.groups = groups
        self.group_channels = in_channels // groups
        self.node_edges = tuple(self.genotype.indexed_nodes())

        self.group_se = SE(self.group_channels, rd_ratio, min_rd_channels=min_rd_channels)
        self.edges = nn.ModuleList(
            self.build_edge(edge_index, op, slot)
            for node in self.node_edges for edge_index, op, slot in node)
        self.proj_conv1 = SameConv2d(self.group_channels * (groups + 1), in_channels, 1)
        self.proj_bn1 = nn.BatchNorm2d(in_channels)
        self.proj_act = nn.ReLU()
        self.proj_conv2 = SameConv2d(in_channels, in_channels, 1)
        self.proj_bn2 = nn.BatchNorm2d(in_channels)
        self.out_se = SE(in_channels, rd_ratio, min_rd_channels=min_rd_channels)

    def build_edge(self, edge_index: int, op: str, slot: int) -> nn.Module:
        """Build the module of one edge.

        Args:
            edge_index (int): Position of the edge in genotype order.
            op (str): Its operation, one of ``PRIMITIVES``.
            slot (int): The slot it reads.

        Returns:
            nn.Module: A ``group_channels`` -> ``group_channels`` operation.
        """
        return build_operation(op, self.group_channels)

    def forward_edge(self, edge_index: int, x: Tensor, stats: FeatureStats) -> Tensor:
        """Run one edge.

        Args:
            edge_index (int): Position of the edge in genotype order.
            x (Tensor): The slot it reads, (N, C/k, H, W).
            stats (FeatureStats): Cached pooling of ``x``, shared by every edge
                that reads the same slot.

        Returns:
            Tensor: Shape (N, C/k, H, W).
        """
        return self.edges[edge_index](x, stats)

    def extra_repr(self) -> str:
        """The constructor arguments that shape the module, genotype included."""
        return (f'in_channels={self.in_channels}, groups={self.groups}, '
                f'genotype={str(self.genotype)!r}')

    def init_weights(self) -> None:
        """Kaiming conv and linear weights, BN weight 1 and bias 0."""
        init_attention_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        """Attend over the channel groups of ``x``.

        Args:
            x (Tensor): Shape (N, C, H, W).

        Returns:
            Tensor: Shape (N, C, H, W).
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'input of shape {tuple(x.shape)}: expected '
                             f'(N, {self.in_channels}, H, W)')
        # Each group once as a contiguous map: the compiled attention core
        # reads contiguous maps and would otherwise copy a group for every
        # operation that reads it.
        groups = [group.contiguous() for group in torch.split(x, self.group_channels, dim=1)]
        summary = self.group_se(sum(groups[1:], groups[0]))
        nodes: List[FeatureStats] = []
        for group, edges in zip(groups, self.node_edges):
            slots = [FeatureStats(group)] + nodes
            node: Optional[Tensor] = None
            for edge_index, _, slot in edges:
                out = self.forward_edge(edge_index, slots[slot].x, slots[slot])
                node = out if node is None else node + out
            nodes.append(FeatureStats(node))
        y = torch.cat([stats.x for stats in nodes] + [summary], dim=1)
        y = self.proj_bn1(self.proj_conv1(y))
        y = self.proj_bn2(self.proj_conv2(self.proj_act(y)))
        return self.out_se(y + x)
