"""Convert a HOGA state dict of the Auto Learning Attention authors (NeurIPS 2020) to ours.

The authors' names (see ``hoga_parity/README.md``): ``se.fc.{0,2}`` and
``se2.fc.{0,2}`` (group and output SE), ``channel_back.{0,1,3,4}`` (the
projection convs and BNs) and ``_ops.{e}.*`` for edge ``e`` in genotype order,
whose inner names depend on the edge's operation. Usage::

    python tools/model_converters/autola_official.py SRC DST [--genotype G]
"""
import argparse
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Sequence

import torch
from torch import Tensor

from autola_mm.models.attention import HOGA, Genotype
from autola_mm.models.attention.genotype import GenotypeSpec

# Our module name -> the authors' module name, per edge operation.
_SEPARABLE = {
    'conv1.spatial': 'op.0', 'conv1.pointwise': 'op.1', 'conv1.bn': 'op.2',
    'conv2.spatial': 'op.4', 'conv2.pointwise': 'op.5', 'conv2.bn': 'op.6'
}
_DILATED = {'conv.spatial': 'op.0', 'conv.pointwise': 'op.1', 'conv.bn': 'op.2'}
_SE = {'mlp.fc1': 'fc.0', 'mlp.fc2': 'fc.2'}
EDGE_MODULES: Dict[str, Dict[str, str]] = {
    'none': {},
    'skip_connect': {},
    'sep_conv_3x3': _SEPARABLE,
    'sep_conv_3x3_spatial': _SEPARABLE,
    'dil_conv_3x3': _DILATED,
    'dil_conv_3x3_spatial': _DILATED,
    'SE': _SE,
    'SE_A_M': _SE,
    'CBAM': {
        'channel_mlp.fc1': 'ChannelGate.mlp.1',
        'channel_mlp.fc2': 'ChannelGate.mlp.3',
        'spatial_conv': 'SpatialGate.spatial.conv',
        'spatial_bn': 'SpatialGate.spatial.bn'
    },
}
TOP_MODULES = {
    'group_se.mlp.fc1': 'se.fc.0', 'group_se.mlp.fc2': 'se.fc.2',
    'out_se.mlp.fc1': 'se2.fc.0', 'out_se.mlp.fc2': 'se2.fc.2',
    'proj_conv1': 'channel_back.0', 'proj_bn1': 'channel_back.1',
    'proj_conv2': 'channel_back.3', 'proj_bn2': 'channel_back.4'
}
# The authors' key whose shape (C, C, 1, 1) tells in_channels.
CHANNELS_KEY = 'channel_back.3.weight'


def official_name(our_key: str, genotype: Genotype) -> str:
    """The authors' name of one of our HOGA state-dict keys.

    Args:
        our_key (str): A key of ``HOGA(...).state_dict()``.
        genotype (Genotype): The module's genotype.

    Returns:
        str: The key in the authors' state dict.
    """
    module, param = our_key.rsplit('.', 1)
    if module.startswith('edges.'):
        _, index, inner = module.split('.', 2)
        op = genotype.edges[int(index)][0]
        return f'_ops.{index}.{EDGE_MODULES[op][inner]}.{param}'
    return f'{TOP_MODULES[module]}.{param}'


def convert(state_dict: Mapping[str, Tensor],
            genotype: GenotypeSpec = None,
            groups: int = 4) -> 'OrderedDict[str, Tensor]':
    """Map the authors' HOGA state dict onto ours.

    Args:
        state_dict (Mapping[str, Tensor]): The authors' HOGA state dict.
        genotype: The module's genotype in any form ``Genotype.build``
            accepts (the parity file's flat list included). Default: None,
            the published genotype.
        groups (int): Number of channel groups. Default: 4, the authors'.

    Returns:
        OrderedDict[str, Tensor]: A state dict for ``HOGA(C, genotype,
        groups)``, in our key order.
    """
    genotype = Genotype.build(genotype, groups)
    if CHANNELS_KEY not in state_dict:
        raise KeyError(f'missing key {CHANNELS_KEY!r}: cannot tell in_channels; is this '
                       'the state dict of one HOGA module of the AutoLA authors?')
    in_channels = state_dict[CHANNELS_KEY].shape[0]
    with torch.device('meta'):
        expected = HOGA(in_channels, genotype, groups).state_dict()
    ours_by_official = OrderedDict(
        (official_name(key, genotype), key) for key in expected)
    for key, value in state_dict.items():
        if key not in ours_by_official:
            raise KeyError(f'unexpected key {key!r} for a HOGA with in_channels={in_channels} '
                           f'and genotype {str(genotype)!r}')
        shape = expected[ours_by_official[key]].shape
        if value.shape != shape:
            raise ValueError(f'key {key!r} has shape {tuple(value.shape)}; a HOGA with '
                             f'in_channels={in_channels} needs {tuple(shape)}')
    for key in ours_by_official:
        if key not in state_dict:
            raise KeyError(f'missing key {key!r} for a HOGA with in_channels={in_channels} '
                           f'and genotype {str(genotype)!r}')
    return OrderedDict((ours, state_dict[official]) for official, ours in ours_by_official.items())


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments; ``argv`` defaults to ``sys.argv[1:]``."""
    parser = argparse.ArgumentParser(
        description="Convert the AutoLA authors' HOGA state dict to autola_mm names")
    parser.add_argument('src', help='source: a state dict, or a checkpoint holding one '
                        'under "state_dict"')
    parser.add_argument('dst', help='destination checkpoint')
    parser.add_argument(
        '--genotype',
        default=None,
        help="the module's genotype: a compact string such as 'skip_connect:0 | ...' "
        'or a genotype JSON file (default: the published genotype)')
    parser.add_argument('--groups', type=int, default=4, help='channel groups (default: 4)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Convert ``SRC`` and save ``{'state_dict': ..., 'meta': ...}`` to ``DST``."""
    args = parse_args(argv)
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=True)
    state_dict = checkpoint.get('state_dict', checkpoint)
    genotype = Genotype.build(args.genotype, args.groups)
    converted = convert(state_dict, genotype, args.groups)
    torch.save({'state_dict': converted, 'meta': {'genotype': str(genotype)}}, args.dst)
    print(f'converted {len(converted)} tensors of {args.src} into {args.dst}')


if __name__ == '__main__':
    main()
