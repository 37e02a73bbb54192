"""Benchmark the attention core of Auto Learning Attention (Ma et al., NeurIPS 2020).

For SE, CBAM and HOGA (built from ``autola_mm.models``) at each shape it times,
forward (inference, ``eval()`` under ``no_grad``) and forward+backward
(training, ``train()``, gradients of the input and the parameters):

* ``eager reference``: the module on the pure PyTorch path (``AUTOLA_OPS=reference``);
* ``compiled ops``: the same module on the compiled operators (``AUTOLA_OPS=compiled``);
* ``torch.compile(reference)``: ``torch.compile`` of the module traced on the reference path;
* ``timm``: timm's ``SEModule`` and ``CbamModule`` with the same reduction (no HOGA in timm).

The machine is shared and the CPU allocator's state moves timings by 2-4x, so
candidates are measured round-robin: every round runs each candidate once
untimed, then once timed (each is measured right after itself), and the table
reports medians over the rounds. Compare candidates only within one run.
Times are also given in "copies": the time divided by that of streaming the
input once into a preallocated tensor (``out.copy_(x)``), the memory
bandwidth floor of a module that reads ``x`` and writes its output. Peak
memory is the largest amount of memory allocated above the starting point
during one call, read from the profiler's allocation and free events: the
forward's output, everything autograd saves for the backward, the backward's
temporaries and the gradients (a training step frees the gradients it made
only before it returns, so every call starts from the same memory and the
gradients count in its peak). The input, the weights and BN's running
statistics exist before the call and are not counted. With ``--device cuda``
every candidate runs on the GPU, peak memory from the CUDA allocator's
statistics; a timing there covers as many consecutive calls, queued without
waiting, as last CUDA_TIMED_SECONDS together (``repeats``), so that the host's
launches overlap the GPU's work as in training, and one call's time is their
mean.

``matmul ms`` is the part of the compiled ops' forward+backward spent in matrix
products (``bmm``, ``mm``, ``addmm``: HOGA's 1x1 convolutions; SE's and CBAM's
MLPs are kernels of their own), read from the profiler's self times of one
extra call (CPU only, ``-`` on CUDA). These products run on the same BLAS that
``torch.compile`` calls, so their time bounds how far below ``torch.compile`` a
module can get.

Prints one table, the fwd+bwd ratios of the compiled ops to
``torch.compile(reference)`` at every shape, and, last, the headline ratios at
the first shape.

Example:
    python tools/analysis/benchmark_attention.py
    python tools/analysis/benchmark_attention.py --modules cbam --shapes 16x256x56x56 --rounds 9
    python tools/analysis/benchmark_attention.py --device cuda
"""
import argparse
import copy
import itertools
import math
import statistics
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from autola_mm.models.attention import CBAM, HOGA, SE
from autola_mm.ops import compiled_ops_available, forced_ops_mode

MODULES = {'se': SE, 'cbam': CBAM, 'hoga': HOGA}
MODULE_NAMES = {'se': 'SE', 'cbam': 'CBAM', 'hoga': 'HOGA'}
EAGER, COMPILED, TORCH_COMPILE, TIMM = ('eager reference', 'compiled ops',
                                        'torch.compile(reference)', 'timm')


class Candidate(NamedTuple):
    """One way of running one module: a forward and a training step."""
    module: str
    name: str
    forward: Callable[[], object]
    train: Callable[[], object]


def parse_shape(text: str) -> Tuple[int, int, int, int]:
    """``'16x256x56x56'`` -> ``(16, 256, 56, 56)``."""
    parts = text.lower().split('x')
    if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f'shape {text!r}: expected NxCxHxW, e.g. 16x256x56x56')
    return tuple(int(p) for p in parts)


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description='Benchmark SE, CBAM and HOGA')
    parser.add_argument('--shapes', nargs='+', type=parse_shape,
                        default=[(16, 256, 56, 56), (8, 1024, 14, 14)],
                        help='input shapes NxCxHxW (default: 16x256x56x56 8x1024x14x14)')
    parser.add_argument('--modules', nargs='+', choices=sorted(MODULES),
                        default=['se', 'cbam', 'hoga'], help='modules to benchmark')
    parser.add_argument('--rounds', type=int, default=7, help='timed rounds (medians over them)')
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu',
                        help='where the modules run (default: cpu)')
    parser.add_argument('--no-torch-compile', action='store_true',
                        help='leave out torch.compile(reference) (its first call compiles)')
    parser.add_argument('--seed', type=int, default=0, help='seed of weights and inputs')
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.threads < 1:
        parser.error('--rounds and --threads must be positive')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: torch sees no CUDA device here')
    return args


def timm_module(name: str, channels: int) -> Optional[nn.Module]:
    """timm's counterpart of ``name`` with our default reduction 1/16, or None."""
    try:
        from timm.layers.cbam import CbamModule
        from timm.layers.squeeze_excite import SEModule
    except ImportError as error:
        raise SystemExit(f'timm is needed for the comparison ({error}); install the '
                         'benchmark requirements: pip install -r requirements/optional.txt')
    if name == 'se':
        return SEModule(channels, rd_ratio=1 / 16)
    if name == 'cbam':
        return CbamModule(channels, rd_ratio=1 / 16, spatial_kernel_size=7)
    return None


def runs(module: nn.Module, x: torch.Tensor, grad: torch.Tensor,
         mode: str) -> Tuple[Callable[[], object], Callable[[], object]]:
    """A forward and a training step of ``module`` on the ``mode`` path."""

    def forward():
        with forced_ops_mode(mode), torch.no_grad():
            module.train(False)
            return module(x)

    def train():
        with forced_ops_mode(mode):
            module.train(True)
            module(x).backward(grad)
            x.grad = None
            module.zero_grad(set_to_none=True)

    return forward, train


def build_candidates(name: str, x: torch.Tensor, grad: torch.Tensor, seed: int,
                     with_torch_compile: bool) -> List[Candidate]:
    """Every candidate of module ``name`` on input ``x``, all with the same weights."""
    torch.manual_seed(seed)
    ours = MODULES[name](x.shape[1])
    ours.init_weights()
    ours.to(x.device)
    label = MODULE_NAMES[name]
    candidates = [
        Candidate(label, EAGER, *runs(ours, x, grad, 'reference')),
        Candidate(label, COMPILED, *runs(ours, x, grad, 'compiled')),
    ]
    if with_torch_compile:
        compiled = torch.compile(copy.deepcopy(ours))
        candidates.append(Candidate(label, TORCH_COMPILE, *runs(compiled, x, grad, 'reference')))
    theirs = timm_module(name, x.shape[1])
    if theirs is not None:
        theirs.to(x.device)
        candidates.append(Candidate(label, TIMM, *runs(theirs, x, grad, 'reference')))
    return candidates


#: On CUDA a timing covers at least this long a run of consecutive calls.
CUDA_TIMED_SECONDS = 0.02


def repeats(seconds: float, device: str) -> int:
    """Calls per timing of a step that took ``seconds`` alone: 1 on the CPU."""
    if device != 'cuda':
        return 1
    return max(1, min(1000, math.ceil(CUDA_TIMED_SECONDS / max(seconds, 1e-9))))


def synchronize(device: str) -> None:
    """Wait for the GPU's queued work (a no-op on the CPU)."""
    if device == 'cuda':
        torch.cuda.synchronize()


def round_robin(steps: Dict[str, Callable[[], object]], rounds: int,
                device: str) -> Dict[str, float]:
    """Median seconds of every step; each round runs each step untimed, then timed.

    The timed run is ``repeats`` calls (one on the CPU) for the untimed one's time.
    """
    times: Dict[str, List[float]] = {key: [] for key in steps}
    for _ in range(rounds):
        for key, step in steps.items():
            synchronize(device)
            start = time.perf_counter()
            step()
            synchronize(device)
            calls = repeats(time.perf_counter() - start, device)
            start = time.perf_counter()
            for _ in range(calls):
                step()
            synchronize(device)
            times[key].append((time.perf_counter() - start) / calls)
    return {key: statistics.median(values) for key, values in times.items()}


def peak_memory(step: Callable[[], object], device: str) -> int:
    """Bytes allocated at the peak of one call of ``step``, above its start."""
    step()
    if device == 'cuda':
        torch.cuda.synchronize()
        start = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - start
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = sorted((event.start_ns(), event.nbytes())
                    for event in prof.profiler.kineto_results.events()
                    if event.name() == '[memory]')
    return max(itertools.accumulate((nbytes for _, nbytes in events), initial=0))


#: The profiler's names of the matrix products that ``matmul ms`` counts.
MATRIX_PRODUCTS = frozenset({'aten::mm', 'aten::bmm', 'aten::addmm', 'aten::addmm_',
                             'aten::baddbmm'})


def matrix_product_seconds(step: Callable[[], object], device: str) -> Optional[float]:
    """Seconds of one call of ``step`` spent in :data:`MATRIX_PRODUCTS` (None on CUDA)."""
    if device == 'cuda':
        return None
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return sum(event.self_cpu_time_total for event in prof.key_averages()
               if event.key in MATRIX_PRODUCTS) / 1e6


def benchmark_shape(shape, args) -> Tuple[float, List[dict]]:
    """Rows of the table for one shape, and the time of one copy of the input."""
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(shape, generator=gen).to(args.device).requires_grad_()
    grad = torch.randn(shape, generator=gen).to(args.device)
    out = torch.empty(shape, device=args.device)
    candidates = [
        candidate for name in args.modules
        for candidate in build_candidates(name, x, grad, args.seed, not args.no_torch_compile)
    ]
    steps = {'copy': lambda: out.copy_(x.detach())}
    for candidate in candidates:
        steps[f'{candidate.module}/{candidate.name}/forward'] = candidate.forward
        steps[f'{candidate.module}/{candidate.name}/train'] = candidate.train
    for step in steps.values():  # the first calls compile and warm up
        step()
    medians = round_robin(steps, args.rounds, args.device)
    rows = []
    for candidate in candidates:
        key = f'{candidate.module}/{candidate.name}'
        rows.append(
            dict(shape=shape, module=candidate.module, name=candidate.name,
                 forward=medians[f'{key}/forward'], train=medians[f'{key}/train'],
                 forward_peak=peak_memory(candidate.forward, args.device),
                 train_peak=peak_memory(candidate.train, args.device),
                 train_matmul=(matrix_product_seconds(candidate.train, args.device)
                               if candidate.name == COMPILED else None)))
    return medians['copy'], rows


def format_table(results) -> str:
    """One table over all shapes."""
    header = (f'{"shape":<15} {"module":<6} {"candidate":<25} {"fwd ms":>8} {"copies":>7} '
              f'{"fwd+bwd ms":>10} {"copies":>7} {"matmul ms":>9} {"fwd MiB":>8} '
              f'{"fwd+bwd MiB":>11}')
    lines = [header, '-' * len(header)]
    for copy_time, rows in results:
        shape = 'x'.join(map(str, rows[0]['shape']))
        lines.append(f'{shape:<15} {"input":<6} {"out.copy_(x)":<25} {copy_time * 1e3:8.2f} '
                     f'{1:7.1f}')
        for row in rows:
            matmul = '-' if row['train_matmul'] is None else f'{row["train_matmul"] * 1e3:.2f}'
            lines.append(
                f'{"":<15} {row["module"]:<6} {row["name"]:<25} {row["forward"] * 1e3:8.2f} '
                f'{row["forward"] / copy_time:7.1f} {row["train"] * 1e3:10.2f} '
                f'{row["train"] / copy_time:7.1f} {matmul:>9} {row["forward_peak"] / 2**20:8.1f} '
                f'{row["train_peak"] / 2**20:11.1f}')
    return '\n'.join(lines)


#: The most fwd+bwd time of the compiled ops, relative to torch.compile(reference).
TORCH_COMPILE_TARGETS = {'SE': 1.0, 'CBAM': 0.8, 'HOGA': 0.8}


def torch_compile_ratios(rows: List[dict]) -> Optional[str]:
    """The compiled ops' fwd+bwd time over torch.compile(reference)'s at one shape.

    With each ratio, that of the compiled ops' matrix products alone (where
    measured): a module cannot go below it without faster matrix products.
    None when torch.compile was left out.
    """
    table = {(row['module'], row['name']): row for row in rows}
    parts = []
    for module, target in TORCH_COMPILE_TARGETS.items():
        ours, theirs = table.get((module, COMPILED)), table.get((module, TORCH_COMPILE))
        if not (ours and theirs):
            continue
        part = f'{module} {ours["train"] / theirs["train"]:.2f}x (target <= {target}x'
        if ours['train_matmul']:
            part += f'; its matrix products alone {ours["train_matmul"] / theirs["train"]:.2f}x'
        parts.append(part + ')')
    if not parts:
        return None
    shape = 'x'.join(map(str, rows[0]['shape']))
    return f'fwd+bwd of the compiled ops / torch.compile(reference) at {shape}: ' + ', '.join(parts)


def headline(copy_time: float, rows: List[dict]) -> str:
    """The acceptance ratios at one shape: speed-ups of fwd+bwd, and CBAM's memory."""
    table = {(row['module'], row['name']): row for row in rows}
    shape = 'x'.join(map(str, rows[0]['shape']))
    parts = []
    for module, baseline, target in (('CBAM', TIMM, 3), ('SE', TIMM, 1.5), ('HOGA', EAGER, 1.5)):
        ours, theirs = table.get((module, COMPILED)), table.get((module, baseline))
        if ours and theirs:
            against = 'timm' if baseline == TIMM else 'eager reference'
            parts.append(f'{module} {theirs["train"] / ours["train"]:.2f}x faster fwd+bwd than '
                         f'{against} (target >= {target}x)')
        if module == 'CBAM' and ours and (module, EAGER) in table:
            ratio = ours['train_peak'] / table[(module, EAGER)]['train_peak']
            parts.append(f'CBAM training peak memory {ratio:.2f}x the eager reference\'s '
                         '(target <= 0.5x)')
    return f'headline at {shape}: ' + '; '.join(parts)


def main(argv=None) -> None:
    args = parse_args(argv)
    if not compiled_ops_available(args.device):
        raise SystemExit(f'the compiled attention core is not built for {args.device}: run '
                         '`python setup.py build_ext --inplace` (or pip install -e .) without '
                         'AUTOLA_WITH_OPS=0; for cuda, make build-cuda')
    torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu'
    print(f'torch {torch.__version__}, {where}, {torch.get_num_threads()} threads, float32, '
          f'{args.rounds} rounds (medians); copies = time / time of out.copy_(x)')
    results = [benchmark_shape(shape, args) for shape in args.shapes]
    print(format_table(results))
    for _, rows in results:
        ratios = torch_compile_ratios(rows)
        if ratios:
            print(ratios)
    print(headline(*results[0]))


if __name__ == '__main__':
    main()
