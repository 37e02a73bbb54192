"""Parameters and FLOPs of an MMDetection, MMPose or MMPretrain model.

Counts with mmengine's jit-trace counter (``FlopAnalyzer``) and adds handlers
for what it leaves uncounted in AutoLA's attention (Ma et al., "Auto Learning
Attention", NeurIPS 2020): the compiled ``autola_mm::*`` operators and the
element-wise arithmetic, pooling and reductions of SE, CBAM and HOGA (and of
the residual adds around them). The config's ``default_scope`` decides which
library builds the model. ``tools/analysis/get_flops.py`` is its command line.

Convention: one FLOP is one multiply-add for convolutions and linear layers
(mmengine's); an element-wise operation (add, multiply, sigmoid) counts one
per output element, a reduction (mean, max) one per input element (a sum of n
terms n - 1 per output), a max pooling one per window element of every
output. Each ``autola_mm::*`` op counts what its reference implementation
(``autola_mm/ops/reference.py``) counts, so the total does not depend on
whether the compiled ops are built.
Whatever remains uncounted is listed under the table. The weights and the
input are drawn with a fixed seed: a two-stage detector's count depends on
how many proposals survive NMS.
"""
from collections import Counter
from dataclasses import dataclass
from functools import partial
from math import prod
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import batchnorm_flop_jit, get_shape
from mmengine.analysis.print_helper import complexity_stats_table
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

import autola_mm  # noqa: F401  (registers the backbones and attention modules)
from autola_mm.utils import check_genotype_files

SCOPES = ('mmdet', 'mmpose', 'mmpretrain')
#: Seed of the weights and the input that :func:`get_flops` traces.
FLOP_SEED = 0


def _numel(value: Any) -> int:
    shape = get_shape(value)
    return prod(shape) if shape else 0


def _per_output_element(inputs: List[Any], outputs: List[Any]) -> int:
    return _numel(outputs[0])


def _per_input_element(inputs: List[Any], outputs: List[Any]) -> int:
    return _numel(inputs[0])


def _int_list(value: Any) -> List[int]:
    """The ints of a traced ``int[]`` argument (a constant or a ListConstruct)."""
    constant = value.toIValue()
    if constant is None:
        constant = [item.toIValue() for item in value.node().inputs()]
    return [constant] if isinstance(constant, int) else list(constant)


def _max_pool(inputs: List[Any], outputs: List[Any]) -> int:
    kernel = _int_list(inputs[1])
    return _numel(outputs[0]) * prod(kernel * (2 // len(kernel)))


def _mean_and_max(inputs: List[Any], outputs: List[Any]) -> int:
    return 2 * _numel(inputs[0])


def _used_channel_stats(inputs: List[Any], outputs: List[Any]) -> int:
    """One per input element for each of ``(avg, max)`` that the model reads.

    The trace drops the reference's reduction whose result is unused (SE
    reads only the mean), so an unread output of the op counts nothing either.
    """
    return _numel(inputs[0]) * sum(1 for output in outputs if output.uses())


def _sigmoid_gate(inputs: List[Any], outputs: List[Any]) -> int:
    return _numel(inputs[1]) + _numel(outputs[0])


def _gated_spatial_stats(inputs: List[Any], outputs: List[Any]) -> int:
    return _numel(inputs[1]) + 3 * _numel(inputs[0])


def _channel_spatial_gate(inputs: List[Any], outputs: List[Any]) -> int:
    return _numel(inputs[1]) + _numel(inputs[2]) + 2 * _numel(outputs[0])


def _sum_of_terms(inputs: List[Any], outputs: List[Any]) -> int:
    """A sum of n terms per output: n - 1 additions each (HOGA's sum over its groups)."""
    return _numel(inputs[0]) - _numel(outputs[0])


def _convolution(inputs: List[Any], outputs: List[Any]) -> int:
    """Multiply-adds, as mmengine counts a convolution: per output, C / groups x kH x kW."""
    return _numel(outputs[0]) * prod(get_shape(inputs[1])[1:])


EXTRA_FLOP_HANDLES = {
    'autola_mm::channel_stats': _used_channel_stats,
    'autola_mm::spatial_stats': _mean_and_max,
    'autola_mm::sigmoid_gate': _sigmoid_gate,  # sigmoid of the logits, products
    'autola_mm::gated_spatial_stats': _gated_spatial_stats,
    'autola_mm::channel_spatial_gate': _channel_spatial_gate,
    'autola_mm::same_conv2d': _convolution,
    'autola_mm::pointwise_conv2d': _convolution,
    # Its first six arguments are aten::batch_norm's, which mmengine counts.
    'autola_mm::batch_norm': batchnorm_flop_jit,
    **{f'aten::{op}': _per_output_element
       for op in ('add', 'add_', 'sub', 'sub_', 'mul', 'mul_', 'div', 'div_', 'sigmoid',
                  'sigmoid_')},
    **{f'aten::{op}': _per_input_element
       for op in ('mean', 'amax', 'amin', 'softmax')},
    'aten::sum': _sum_of_terms,
    'aten::max_pool2d': _max_pool,
    'aten::unflatten': None,  # a view
}
"""Handles added to mmengine's ``FlopAnalyzer``, by traced operator name."""


@dataclass
class Complexity:
    """What :func:`get_flops` measured.

    Attributes:
        params (int): Number of parameters.
        flops (int): FLOPs of one forward pass (convention in the module
            docstring).
        input_shape (tuple[int]): Shape of the traced input (1, 3, H, W).
        table (str): Per-module parameters and FLOPs.
        uncounted (Counter): Traced operators without a handle, by name.
    """

    params: int
    flops: int
    input_shape: Tuple[int, ...]
    table: str
    uncounted: Counter

    def format(self) -> str:
        """The report the CLI prints: table, then totals."""
        uncounted = ', '.join(f'{op} x{n}' for op, n in sorted(self.uncounted.items()))
        return '\n'.join([
            f'Input shape: {self.input_shape}', self.table,
            f'Parameters: {self.params:,} ({self.params / 1e6:.2f}M)',
            f'FLOPs: {self.flops:,} ({self.flops / 1e9:.2f}G)',
            f'Uncounted operators: {uncounted or "none"}'
        ])


def default_shape(cfg: Config) -> Tuple[int, int]:
    """Input height and width when ``--shape`` is not given.

    mmpose: the codec's ``input_size``; mmdet: 800 x 1333; mmpretrain: 32 x
    32 for CIFAR datasets, 224 x 224 otherwise.

    Args:
        cfg (Config): The model's config.

    Returns:
        tuple[int, int]: ``(H, W)``.
    """
    scope = cfg.get('default_scope')
    if scope == 'mmpose':
        codec = cfg.get('codec') or cfg.model.get('head', {}).get('decoder')
        if codec and 'input_size' in codec:
            width, height = codec['input_size']
            return height, width
        return 256, 192
    if scope == 'mmdet':
        return 800, 1333
    dataset = cfg.get('train_dataloader', {}).get('dataset', {}).get('type', '')
    return (32, 32) if 'CIFAR' in str(dataset) else (224, 224)


def _data_samples(scope: str, shape: Tuple[int, int]) -> Optional[list]:
    """Data samples a ``mode='tensor'`` forward needs (mmdet's image metas)."""
    if scope != 'mmdet':
        return None
    from mmdet.structures import DetDataSample
    return [
        DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape,
                                    batch_input_shape=shape, scale_factor=(1.0, 1.0)))
    ]


def build_model(cfg: Config) -> nn.Module:
    """Build ``cfg.model`` in the registry of ``cfg.default_scope``.

    Args:
        cfg (Config): A config whose ``default_scope`` is one of
            mmdet, mmpose or mmpretrain.

    Returns:
        nn.Module: The model in eval mode.
    """
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise ValueError(f'default_scope={scope!r} in the config; get_flops builds models of '
                         f'{", ".join(SCOPES)}')
    init_default_scope(scope)
    return MODELS.build(cfg.model).eval()


def model_complexity(model: nn.Module,
                     inputs: torch.Tensor,
                     data_samples: Optional[list] = None,
                     max_depth: int = 2) -> Complexity:
    """Count the parameters and FLOPs of ``model(inputs, data_samples, mode='tensor')``.

    Args:
        model (nn.Module): An OpenMMLab model (``BaseModel``), or any module
            whose forward takes ``inputs`` alone when ``data_samples`` is None
            and it has no ``data_preprocessor``.
        inputs (Tensor): Shape (1, C, H, W).
        data_samples (list, optional): Passed to the forward.
        max_depth (int): Depth of submodules in the table. Defaults to 2.

    Returns:
        Complexity: Parameters, FLOPs, table and uncounted operators.
    """
    forward = model.forward
    if hasattr(model, 'data_preprocessor'):
        model.forward = partial(forward, data_samples=data_samples, mode='tensor')
    try:
        analyzer = FlopAnalyzer(model, (inputs, ))
        analyzer.set_op_handle(**EXTRA_FLOP_HANDLES)
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        with torch.no_grad():  # the forward alone, as inference runs it
            flops = analyzer.total()
        table = complexity_stats_table(analyzer, max_depth=max_depth, show_param_shapes=False)
    finally:
        if hasattr(model, 'data_preprocessor'):
            del model.forward
    return Complexity(
        params=sum(p.numel() for p in model.parameters()),
        flops=flops,
        input_shape=tuple(inputs.shape),
        table=table,
        uncounted=analyzer.unsupported_ops())


def load_config(config: str, cfg_options: Optional[Dict[str, Any]] = None) -> Config:
    """Read a config, merge overrides and check the genotype files it names.

    Args:
        config (str): Path of an mmdet, mmpose or mmpretrain config.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        Config: The merged config.
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    check_genotype_files(cfg.get('model'))
    return cfg


def count_parameters(config: str, cfg_options: Optional[Dict[str, Any]] = None) -> int:
    """The number of parameters of a config's model (built, not traced).

    Args:
        config (str): Path of an mmdet, mmpose or mmpretrain config.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        int: Parameters, as :func:`get_flops` counts them.
    """
    model = build_model(load_config(config, cfg_options))
    return sum(p.numel() for p in model.parameters())


def get_flops(config: str,
              shape: Optional[Sequence[int]] = None,
              cfg_options: Optional[Dict[str, Any]] = None,
              max_depth: int = 2) -> Complexity:
    """Build a config's model and count its parameters and FLOPs.

    Args:
        config (str): Path of an mmdet, mmpose or mmpretrain config.
        shape (Sequence[int], optional): Input ``(H, W)``; None takes
            :func:`default_shape`.
        cfg_options (dict, optional): Overrides merged into the config.
        max_depth (int): Depth of submodules in the table. Defaults to 2.

    Returns:
        Complexity: Parameters, FLOPs, table and uncounted operators.
    """
    cfg = load_config(config, cfg_options)
    height, width = default_shape(cfg) if shape is None else shape
    # A detector's second stage counts the proposals that survive NMS, which
    # depend on the weights and the image: both come from one seed, so every
    # run (the model zoo, its test, the CLI) counts the same.
    with torch.random.fork_rng():
        torch.manual_seed(FLOP_SEED)
        model = build_model(cfg)
        inputs = torch.rand(1, 3, height, width)
    return model_complexity(model, inputs, _data_samples(cfg.default_scope, (height, width)),
                            max_depth)
