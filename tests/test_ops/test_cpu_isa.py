"""The CPU kernels' instruction sets: chosen at run time, each copy matching the oracle.

The extension holds every CPU loop three times (baseline x86-64, AVX2 with
FMA, AVX-512) and runs the widest this CPU has, or a narrower one named by
``AUTOLA_CPU_ISA``. The suite's other tests run the widest; here the kernel
tests run again in a process per instruction set, so every copy this CPU
can execute is checked against the float64 oracle.
"""
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autola_mm.ops import compiled_ops_available

pytestmark = pytest.mark.skipif(not compiled_ops_available('cpu'),
                                reason='the compiled attention core is not built')

TESTS = Path(__file__).resolve().parent
#: The tests of the CPU kernels, run once per instruction set.
KERNEL_TESTS = ('test_channel_stats.py', 'test_spatial_stats.py', 'test_sigmoid_gate.py',
                'test_same_conv2d.py', 'test_pointwise_conv2d.py', 'test_cbam_core.py',
                'test_channel_attention.py', 'test_cbam_attention.py', 'test_batch_norm.py')
#: Each instruction set and the /proc/cpuinfo flags it needs.
ISA_FLAGS = {'baseline': (), 'avx2': ('avx2', 'fma'),
             'avx512': ('avx512f', 'avx512bw', 'avx512vl', 'avx512dq')}


def cpu_flags() -> set:
    """The CPU's feature flags as the Linux kernel lists them."""
    for line in Path('/proc/cpuinfo').read_text().splitlines():
        if line.startswith('flags'):
            return set(line.split(':', 1)[1].split())
    return set()


def cpu_has(isa: str) -> bool:
    return set(ISA_FLAGS[isa]) <= cpu_flags()


def widest_isa() -> str:
    return [isa for isa in ISA_FLAGS if cpu_has(isa)][-1]


def run_python(code: str, isa: str) -> subprocess.CompletedProcess:
    env = {**os.environ, 'AUTOLA_CPU_ISA': isa}
    return subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                          text=True, timeout=300)


linux_x86 = pytest.mark.skipif(
    platform.system() != 'Linux' or platform.machine() != 'x86_64',
    reason='the instruction sets are those of x86-64; /proc/cpuinfo names them on Linux')


@linux_x86
def test_the_widest_instruction_set_is_chosen():
    env = {k: v for k, v in os.environ.items() if k != 'AUTOLA_CPU_ISA'}
    done = subprocess.run(
        [sys.executable, '-c', 'import autola_mm.ops._ext as e; print(e.cpu_isa)'], env=env,
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == widest_isa()


@linux_x86
@pytest.mark.parametrize('isa', list(ISA_FLAGS))
def test_every_copy_matches_the_oracle(isa):
    if not cpu_has(isa):
        pytest.skip(f'this CPU has no {isa} ({", ".join(ISA_FLAGS[isa])})')
    done = subprocess.run(
        [sys.executable, '-m', 'pytest', '-o', 'addopts=', '-q', '-p', 'no:cacheprovider', '-k',
         'cpu and not reference', *(str(TESTS / name) for name in KERNEL_TESTS)],
        env={**os.environ, 'AUTOLA_CPU_ISA': isa}, capture_output=True, text=True,
        timeout=600, cwd=TESTS.parents[1])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    passed = re.search(r'(\d+) passed', done.stdout)
    assert passed and int(passed.group(1)) > 300 and ' failed' not in done.stdout
    probe = run_python('import autola_mm.ops._ext as e; print(e.cpu_isa)', isa)
    assert probe.stdout.strip() == isa


def test_an_unknown_instruction_set_fails_the_import():
    done = run_python('import autola_mm.ops._ext', 'avx9')
    assert done.returncode != 0
    assert 'AUTOLA_CPU_ISA=avx9: expected baseline, avx2 or avx512' in done.stderr


@linux_x86
def test_an_instruction_set_the_cpu_lacks_fails_the_import():
    missing = [isa for isa in ISA_FLAGS if not cpu_has(isa)]
    if not missing:
        pytest.skip('this CPU has every instruction set the kernels are built for')
    done = run_python('import autola_mm.ops._ext', missing[0])
    assert done.returncode != 0
    assert f'AUTOLA_CPU_ISA={missing[0]}: this CPU runs at most {widest_isa()}' in done.stderr
