"""Export an mm model with AutoLA attention (Ma et al., NeurIPS 2020) to ONNX.

The attention modules take the reference path of ``autola_mm.ops`` while
``torch.onnx.export`` runs (both exporters), so the graph holds standard ONNX
operators only (ReduceMean, ReduceMax, Conv, Sigmoid, Mul, ...). The graph is
the network on a normalised (N, 3, H, W) image: the data preprocessor
(normalisation, padding) and the tasks' post-processing stay outside, as in
mmdeploy's graphs.

What the graph returns, by the config's ``default_scope``:

* mmpretrain classifiers and mmpose top-down estimators: the model's
  ``mode='tensor'`` output (class scores; heatmaps of shape (N, K, H/4, W/4));
* mmdet detectors: the neck's feature maps, then the dense head's outputs
  (the RPN's scores and boxes per level for two-stage detectors), since the
  second stage of a two-stage detector needs the proposals' RoI pooling.
"""
from pathlib import Path
from typing import List, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

#: The ONNX opset of the exported graphs.
OPSET = 18


class OnnxExportError(ValueError):
    """A model that cannot be exported as asked (a shape it cannot take, a missing package)."""


class DenseOutputs(nn.Module):
    """The network of an mm model as a function of the image tensor alone.

    Args:
        model (nn.Module): An mmdet, mmpose or mmpretrain model.
        scope (str): The config's ``default_scope``: ``'mmdet'``, ``'mmpose'``
            or ``'mmpretrain'``.
    """

    def __init__(self, model: nn.Module, scope: str):
        super().__init__()
        self.model = model
        self.scope = scope

    def forward(self, image: Tensor) -> Tuple[Tensor, ...]:
        """The network's outputs, flattened into a tuple.

        Args:
            image (Tensor): Normalised images of shape (N, 3, H, W).

        Returns:
            tuple[Tensor, ...]: See the module docstring.
        """
        if self.scope != 'mmdet':
            return tuple(_flatten(self.model(image, None, mode='tensor')))
        features = self.model.extract_feat(image)
        head = self.model.rpn_head if getattr(self.model, 'with_rpn', False) \
            else self.model.bbox_head
        return tuple(_flatten(features)) + tuple(_flatten(head(features)))


def _flatten(outputs) -> List[Tensor]:
    if isinstance(outputs, Tensor):
        return [outputs]
    return [t for item in outputs for t in _flatten(item)]


def export_onnx(module: nn.Module,
                example: Tensor,
                path: Union[str, Path],
                dynamic_batch: bool = False,
                exporter: str = 'torchscript') -> List[str]:
    """Export ``module`` (in eval mode) on ``example`` to the ONNX file ``path``.

    Args:
        module (nn.Module): Maps an (N, 3, H, W) tensor to a tensor or a
            tuple of tensors.
        example (Tensor): An input the module takes.
        path (str | Path): The ONNX file to write.
        dynamic_batch (bool): Make the batch axis of the input and every
            output dynamic. Default: False.
        exporter (str): ``'torchscript'`` (``torch.onnx.export(...,
            dynamo=False)``, what mmdeploy uses) or ``'dynamo'``
            (``torch.export`` and onnxscript). Default: ``'torchscript'``.

    Returns:
        list[str]: The names of the graph's outputs.

    Raises:
        OnnxExportError: When the module cannot take ``example`` or the
            exporter's packages are missing.
    """
    if exporter not in ('torchscript', 'dynamo'):
        raise OnnxExportError(f'exporter={exporter!r}: expected torchscript or dynamo')
    module.eval()
    try:
        with torch.no_grad():
            outputs = module(example)
    except (RuntimeError, ValueError, IndexError) as error:
        raise OnnxExportError(f'the model cannot take an input of shape {tuple(example.shape)}: '
                              f'{error}. Pass another --shape H W (detectors and pose models '
                              'need sizes their strides divide, e.g. multiples of 32)') from error
    names = [f'output{i}' for i in range(len(outputs) if isinstance(outputs, tuple) else 1)]
    options = dict(input_names=['input'], output_names=names, opset_version=OPSET)
    if exporter == 'dynamo':
        _require('onnxscript', 'the dynamo exporter')
        options['dynamo'] = True
        options['external_data'] = False
        if dynamic_batch:
            options['dynamic_shapes'] = ({0: torch.export.Dim('batch')}, )
    else:
        options['dynamo'] = False
        if dynamic_batch:
            options['dynamic_axes'] = {name: {0: 'batch'} for name in ['input'] + names}
    _require('onnx', 'ONNX export')
    with torch.no_grad():
        torch.onnx.export(module, (example, ), str(path), **options)
    return names


def onnx_domains(path: Union[str, Path]) -> Sequence[str]:
    """The operator domains of an ONNX graph (``''`` is the default ONNX domain)."""
    onnx = _require('onnx', 'reading ONNX graphs')
    return sorted({node.domain for node in onnx.load(str(path)).graph.node})


def onnxruntime_difference(path: Union[str, Path], module: nn.Module, image: Tensor) -> float:
    """Largest absolute difference between ONNX Runtime and PyTorch on ``image``.

    Args:
        path (str | Path): The exported graph.
        module (nn.Module): The module it was exported from.
        image (Tensor): An (N, 3, H, W) input.

    Returns:
        float: ``max |ort - torch|`` over every output element.
    """
    ort = _require('onnxruntime', 'checking the graph (--verify)')
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    got = session.run(None, {'input': image.numpy()})
    with torch.no_grad():
        expected = module.eval()(image)
    expected = expected if isinstance(expected, tuple) else (expected, )
    if len(got) != len(expected):
        raise OnnxExportError(f'{path} has {len(got)} outputs, the model {len(expected)}')
    return max(float(abs(torch.from_numpy(g) - e).max()) if e.numel() else 0.0
               for g, e in zip(got, expected))


def _require(package: str, purpose: str):
    try:
        return __import__(package)
    except ImportError as error:
        raise OnnxExportError(f'{purpose} needs the package {package} ({error}): pip install '
                              '-e ".[deploy]" (or pip install onnx onnxruntime onnxscript)') from error
