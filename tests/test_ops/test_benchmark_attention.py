"""tools/analysis/benchmark_attention.py on tiny shapes: one table, a headline, sane numbers."""
import itertools

import pytest
import torch
from tool_loading import load_tool

from autola_mm.models.attention import CBAM
from autola_mm.ops import active_ops_path

ON_CUDA = pytest.param('cuda', marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                        reason='needs a CUDA device'))


@pytest.fixture(scope='module')
def tool():
    return load_tool('analysis/benchmark_attention')


@pytest.mark.parametrize('device', ['cpu', ON_CUDA])
def test_peak_memory_counts_live_allocations(tool, device):
    x = torch.zeros(256, 1024, device=device)  # 1 MiB

    def step():
        a = x + 1  # 1 MiB live ...
        b = a * 2  # ... 2 MiB live at the peak
        del a
        return b.sum()

    peak = tool.peak_memory(step, device)
    assert 2 * 2**20 <= peak < 2 * 2**20 + 4096


def test_round_robin_measures_every_step_after_itself(tool):
    calls = []
    steps = {'a': lambda: calls.append('a'), 'b': lambda: calls.append('b')}
    medians = tool.round_robin(steps, rounds=3, device='cpu')
    assert calls == list(itertools.chain.from_iterable(['a', 'a', 'b', 'b'] for _ in range(3)))
    assert set(medians) == {'a', 'b'} and all(t >= 0 for t in medians.values())


def test_cuda_timings_repeat_short_steps_the_cpu_times_one(tool):
    seconds = tool.CUDA_TIMED_SECONDS
    assert tool.repeats(seconds / 4, 'cuda') == 4
    assert tool.repeats(seconds / 4.5, 'cuda') == 5
    assert tool.repeats(2 * seconds, 'cuda') == 1
    assert tool.repeats(0.0, 'cuda') == 1000
    assert tool.repeats(seconds / 4, 'cpu') == 1


def test_tiny_run_prints_table_and_headline(tool, compiled_device, capsys):
    pytest.importorskip('timm', reason='timm (requirements/optional.txt) is the comparison')
    threads = torch.get_num_threads()
    try:
        tool.main(['--shapes', '2x8x6x6', '--rounds', '1', '--no-torch-compile', '--threads',
                   '1', '--device', compiled_device])
    finally:
        torch.set_num_threads(threads)  # main sets the process's thread count
    lines = capsys.readouterr().out.strip().splitlines()
    rows = [line for line in lines if line.split()[:1] in (['SE'], ['CBAM'], ['HOGA'])]
    assert len(rows) == 3 + 3 + 2  # eager, compiled and timm for SE and CBAM; no timm HOGA
    assert 'matmul ms' in lines[1]
    assert lines[-1].startswith('headline at 2x8x6x6: CBAM ')
    assert 'SE ' in lines[-1] and 'HOGA ' in lines[-1] and 'peak memory' in lines[-1]


def test_matrix_product_time_counts_products_only(tool):
    a, b = torch.randn(256, 256), torch.randn(8, 64, 64)

    def products():
        a.mm(a)
        b.bmm(b)

    assert tool.matrix_product_seconds(products, 'cpu') > 0
    assert tool.matrix_product_seconds(lambda: a.add(a).sum(), 'cpu') == 0
    assert tool.matrix_product_seconds(products, 'cuda') is None


def test_torch_compile_ratios_divide_fwd_bwd_times(tool):
    def row(module, name, train, matmul=None):
        return dict(shape=(2, 8, 6, 6), module=module, name=name, train=train,
                    train_matmul=matmul)

    rows = [row('SE', tool.COMPILED, 2.0), row('SE', tool.TORCH_COMPILE, 4.0),
            row('HOGA', tool.COMPILED, 3.0, matmul=1.5), row('HOGA', tool.TORCH_COMPILE, 2.0),
            row('CBAM', tool.COMPILED, 1.0)]
    assert tool.torch_compile_ratios(rows) == (
        'fwd+bwd of the compiled ops / torch.compile(reference) at 2x8x6x6: '
        'SE 0.50x (target <= 1.0x), HOGA 1.50x (target <= 0.8x; its matrix products alone '
        '0.75x)')
    assert tool.torch_compile_ratios(rows[4:]) is None


def test_shape_argument_is_checked(tool):
    with pytest.raises(SystemExit):
        tool.parse_args(['--shapes', '16x256x56'])


def test_training_step_counts_and_frees_its_gradients(tool):
    module = torch.nn.Conv2d(8, 8, 1)
    x = torch.randn(4, 8, 32, 32, requires_grad=True)
    _, train = tool.runs(module, x, torch.randn(4, 8, 32, 32), 'reference')
    peak = tool.peak_memory(train, 'cpu')
    assert x.grad is None and all(p.grad is None for p in module.parameters())
    assert peak >= 2 * x.nbytes  # the output and the gradient of x, at least


@pytest.mark.parametrize('mode', ['compiled', 'reference'])
def test_runs_take_the_path_they_name(tool, needs_compiled, mode):
    paths = []

    class Probe(torch.nn.Module):

        def forward(self, x):
            paths.append(active_ops_path(x))
            return x * 2

    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    for step in tool.runs(Probe(), x, torch.ones_like(x), mode):
        step()
    assert paths == [mode, mode]


def test_fused_cbam_training_peak_is_at_most_half_the_reference(tool, needs_compiled):
    # The headline's target: the fused CBAM backward keeps no per-use gradients of x.
    torch.manual_seed(0)
    module = CBAM(32)
    module.init_weights()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 32, 16, 16, generator=gen).requires_grad_()
    grad = torch.randn(2, 32, 16, 16, generator=gen)
    peaks = {mode: tool.peak_memory(tool.runs(module, x, grad, mode)[1], 'cpu')
             for mode in ('compiled', 'reference')}
    assert peaks['compiled'] <= 0.5 * peaks['reference'], peaks
    # The output and x's gradient, a few statistics besides.
    assert peaks['compiled'] < 2.5 * x.nbytes, peaks
