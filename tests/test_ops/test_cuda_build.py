"""The CUDA build of the attention core (``make build-cuda``) compiled and linked.

``make build-cuda`` builds ``autola_mm.ops._ext`` with its CUDA kernels into
``build/cuda/lib``, beside the CPU build the package imports. These tests
check that library without a GPU: it carries device code and links the CUDA
runtime, and a fresh interpreter loads it and finds CPU, CUDA and Meta
kernels for every operator. They skip where it was not built.
"""
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CUDA_BUILD = ROOT / 'build' / 'cuda' / 'lib' / 'autola_mm' / 'ops'
OPERATORS = ('channel_stats', 'channel_stats_backward', 'spatial_stats', 'spatial_stats_backward',
             'sigmoid_gate', 'sigmoid_gate_backward', 'gated_spatial_stats',
             'gated_spatial_stats_backward', 'channel_spatial_gate',
             'channel_spatial_gate_backward', 'channel_attention_backward_logits',
             'channel_attention_backward_input', 'cbam_backward_gate_logits',
             'cbam_backward_pool_logits', 'cbam_backward_input', 'same_conv2d',
             'same_conv2d_backward', 'pointwise_conv2d',
             'pointwise_conv2d_backward_input', 'pointwise_conv2d_backward_weight', 'batch_norm',
             'batch_norm_backward')

# Loads the library as autola_mm.ops._ext without importing autola_mm (whose
# import loads the CPU build), then prints what the dispatcher holds.
LOAD = textwrap.dedent('''
    import importlib.util, sys, torch
    spec = importlib.util.spec_from_file_location('autola_mm.ops._ext', sys.argv[1])
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    x = torch.randn(2, 3, 4, 5)
    avg, max_ = torch.ops.autola_mm.channel_stats(x)
    assert torch.equal(max_, x.amax(dim=(2, 3), keepdim=True))
    for op in sys.argv[2:]:
        keys = [key for key in ('CPU', 'CUDA', 'Meta')
                if torch._C._dispatch_has_kernel_for_dispatch_key(f'autola_mm::{op}', key)]
        print(op, ' '.join(keys))
''')


@pytest.fixture(scope='module')
def library() -> Path:
    """The CUDA build of the extension; skips when ``make build-cuda`` has not run."""
    built = sorted(CUDA_BUILD.glob('_ext*.so'))
    if not built:
        pytest.skip(f'no CUDA build in {CUDA_BUILD}: run `make build-cuda`')
    return built[0]


def readelf(*args) -> str:
    if shutil.which('readelf') is None:
        pytest.skip('readelf (binutils) is not installed')
    return subprocess.run(['readelf', *args], check=True, capture_output=True, text=True).stdout


def test_carries_device_code_and_links_the_cuda_runtime(library):
    assert '.nv_fatbin' in readelf('--section-headers', '--wide', str(library))
    needed = readelf('--dynamic', str(library))
    assert 'libcudart.so' in needed and 'libc10_cuda.so' in needed


def test_loads_with_cpu_cuda_and_meta_kernels_for_every_operator(library):
    result = subprocess.run([sys.executable, '-c', LOAD, str(library), *OPERATORS],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    kernels = dict(line.split(' ', 1) for line in result.stdout.splitlines())
    assert kernels == {op: 'CPU CUDA Meta' for op in OPERATORS}


def cuobjdump(*args) -> str:
    """The output of CUDA's cuobjdump (the toolkit's, or the copy triton ships)."""
    import torch
    candidates = [shutil.which('cuobjdump'), '/usr/local/cuda/bin/cuobjdump',
                  str(Path(torch.__file__).parents[1] / 'triton/backends/nvidia/bin/cuobjdump')]
    found = next((c for c in candidates if c and Path(c).is_file()), None)
    if found is None:
        pytest.skip('cuobjdump is not installed (CUDA toolkit or triton)')
    return subprocess.run([found, *args], check=True, capture_output=True, text=True).stdout


def test_holds_every_architecture_of_torch_and_ptx_of_the_newest(library):
    # make build-cuda builds the architectures this torch ships (7.5, 8.0,
    # 8.6, 9.0, 10.0 and 12.0 for the CUDA 13 torch here) plus PTX of the newest.
    import torch
    archs = sorted(set(re.findall(r'sm_(\d+)', torch._C._cuda_getArchFlags() or '')), key=int)
    if not archs:
        pytest.skip('this torch names no CUDA architectures (a CPU-only build)')
    elves = set(re.findall(r'sm_(\d+)', cuobjdump('--list-elf', str(library))))
    ptx = set(re.findall(r'sm_(\d+)', cuobjdump('--list-ptx', str(library))))
    assert set(archs) <= elves
    assert ptx == {archs[-1]}
