"""Run one of mmdeploy 1.3.1's tools (``deploy.py``, ``test.py``) on this torch.

mmdeploy 1.3.1 (its last release) predates torch 2.9, and two things it
relies on changed there:

- ``torch.onnx.export`` exports with ``dynamo=True`` by default; mmdeploy's
  rewriters patch the TorchScript exporter, so its calls get ``dynamo=False``.
- ``torch.onnx.symbolic_opset9._cast_Long`` is gone; mmdeploy's RoIAlign
  symbolic imports it. It is given back as the ONNX ``Cast`` to int64 it was.

The patches are applied when this module is imported, and this module stays
the main module while the tool's ``main()`` runs, so the processes that
mmdeploy's ``deploy.py`` spawns (they re-import the main module) get them
too. ``autola_mm`` is imported so its modules are registered.

Example (see docs/deployment.md)::

    PYTHONPATH=$MMDEPLOY_SITE python tools/deployment/run_mmdeploy.py \\
        $MMDEPLOY_REPO/tools/deploy.py DEPLOY_CFG MODEL_CFG CHECKPOINT IMAGE \\
        --work-dir work_dirs/mmdeploy --device cpu
"""
import functools
import runpy
import sys

import torch
import torch.onnx.symbolic_opset9 as opset9
from torch.onnx import _C_onnx

import autola_mm  # noqa: F401 (registers HOGA, SE and CBAM)

if not isinstance(torch.onnx.export, functools.partial):
    torch.onnx.export = functools.partial(torch.onnx.export, dynamo=False)
if not hasattr(opset9, '_cast_Long'):
    opset9._cast_Long = lambda g, x, non_blocking: g.op(
        'Cast', x, to_i=_C_onnx.TensorProtoDataType.INT64)


def main() -> None:
    """Run the mmdeploy tool named by the first argument with the rest."""
    if len(sys.argv) < 2 or not sys.argv[1].endswith('.py'):
        sys.exit('usage: run_mmdeploy.py MMDEPLOY_TOOL.py [ARGS...], e.g. the tools/deploy.py '
                 'or tools/test.py of a checkout of mmdeploy v1.3.1')
    try:
        import mmdeploy
    except ImportError:
        sys.exit('error: mmdeploy is not importable; install it apart as docs/deployment.md '
                 'says and put its folder on PYTHONPATH')
    if mmdeploy.__version__ != '1.3.1':
        print(f'warning: these patches are for mmdeploy 1.3.1, found {mmdeploy.__version__}',
              file=sys.stderr)
    tool, sys.argv = sys.argv[1], sys.argv[1:]
    tool_main = runpy.run_path(tool, run_name='mmdeploy_tool').get('main')
    if tool_main is None:
        sys.exit(f'error: {tool} has no main(); give one of the tools of mmdeploy v1.3.1')
    tool_main()


if __name__ == '__main__':
    main()
