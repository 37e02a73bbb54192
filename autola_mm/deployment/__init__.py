"""Deployment of models with HOGA, SE and CBAM: ONNX export and its check on ONNX Runtime.

Not imported by ``import autola_mm``. ``tools/deployment/pytorch2onnx.py`` is
its command line; ``docs/deployment.md`` describes both.
"""
from .onnx_export import (DenseOutputs, OnnxExportError, export_onnx, onnx_domains,
                          onnxruntime_difference)

__all__ = [
    'DenseOutputs', 'OnnxExportError', 'export_onnx', 'onnx_domains', 'onnxruntime_difference'
]
