"""Time the training step of whole networks with and without attention (AutoLA, NeurIPS 2020).

One step is what a training iteration does: forward, cross entropy, backward
with the loss's gradient, and an SGD step (momentum 0.9), in float32 on random
images. Networks, built from the configs of ``configs/``:

* ``resnet20``: CIFAR ResNet-20, batch 64, 32x32 (``configs/autola_cifar``);
* ``resnet50``: ResNet-50, batch 8, 224x224 (``configs/autola_imagenet``);

each without attention and with SE, CBAM and HOGA, on every path a user can
pick:

* ``compiled``: the compiled operators of the attention core (``AUTOLA_OPS=compiled``);
* ``reference``: the pure PyTorch path (``AUTOLA_OPS=reference``);
* ``compile``: ``torch.compile`` of the network on the reference path;
* ``compile+ops``: ``torch.compile`` of the network on the compiled operators;

and, for ResNet-50, timm's ``resnet50`` without attention and with its ``se``
and ``cbam`` blocks (attention after conv3) as peers.

Candidates are timed round-robin (each round runs one untimed and one timed
step of every candidate, so a disturbance of the machine touches them alike)
and the table gives medians over the rounds, the ratio to the network without
attention on the same path (timm's to timm's plain ResNet-50), parameters,
FLOPs of one forward pass (``tools/analysis/get_flops.py``'s count) and, for
``torch.compile``, the graph breaks dynamo reported. Then the compute
operator calls of one HOGA forward+backward (the ResNet-20 HOGA of the first
stage, 16 channels, batch 64): the ``aten::`` and ``autola_mm::`` operators the
profiler records that call no other compute operator, without views, allocations
and no-op conversions, the gradients starting as None as in a training step.
On a GPU each is a kernel launch, so the count is what this CPU can tell of
HOGA's launch overhead there. The last line is the headline.

With ``--operation-costs``, each network is then timed again, round-robin,
on the first path: without attention, with HOGA of the published genotype,
with HOGA whose edges of one operation are ``skip_connect`` (for each of
its operations) and with HOGA whose every edge is (its skeleton: the groups,
the node sums, the projection and the two SEs). A table gives what each part
adds to the training step, in ms and as a share of what HOGA adds, beside
its share of HOGA's FLOPs.

Example:
    python tools/analysis/benchmark_models.py                       # everything
    python tools/analysis/benchmark_models.py --networks resnet20 --paths compiled reference
    python tools/analysis/benchmark_models.py --networks resnet20 --paths compiled --no-timm \
        --operation-costs
"""
import argparse
import contextlib
import copy
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional

import torch
import torch.nn.functional as F
from mmengine.config import Config
from torch import nn
from torch.profiler import profile

import autola_mm  # noqa: F401  (registers the plugins and backbones)
from autola_mm.analysis.complexity import (Complexity, build_model, load_config,
                                           model_complexity)
from autola_mm.models.attention import HOGA, PRIMITIVES, Genotype
from autola_mm.ops import forced_ops_mode

#: The repository, whose ``configs/`` the networks come from.
REPO_ROOT = Path(__file__).resolve().parents[2]
NETWORKS = {
    'resnet20': dict(batch=64, size=32, configs={
        'plain': 'configs/autola_cifar/resnet20_4xb64-cos500e_cifar10.py',
        'SE': 'configs/autola_cifar/resnet20-se_4xb64-cos500e_cifar10.py',
        'CBAM': 'configs/autola_cifar/resnet20-cbam_4xb64-cos500e_cifar10.py',
        'HOGA': 'configs/autola_cifar/resnet20-hoga_4xb64-cos500e_cifar10.py'}),
    'resnet50': dict(batch=8, size=224, configs={
        'plain': 'configs/autola_imagenet/resnet50_8xb32-step100e_in1k.py',
        'SE': 'configs/autola_imagenet/resnet50-se_8xb32-step100e_in1k.py',
        'CBAM': 'configs/autola_imagenet/resnet50-cbam_8xb32-step100e_in1k.py',
        'HOGA': 'configs/autola_imagenet/resnet50-hoga_8xb32-step100e_in1k.py'}),
}
#: Each path: the ``AUTOLA_OPS`` mode the network runs in, and whether torch.compile wraps it.
PATHS = {'compiled': ('compiled', False), 'reference': ('reference', False),
         'compile': ('reference', True), 'compile+ops': ('compiled', True)}
#: The candidate of ``--operation-costs`` whose HOGA has every edge ``skip_connect``.
SKELETON = 'HOGA skeleton'
TIMM_ATTENTION = {'plain': None, 'SE': 'se', 'CBAM': 'cbam'}
#: Operators that only view, reshape or allocate, or return their input as it
#: is (a dtype conversion to the same dtype, a conjugation of real numbers):
#: not counted as compute. Where one of them does copy, its copy is counted.
VIEW_OPS = frozenset(
    f'aten::{name}' for name in (
        'view', '_unsafe_view', 'reshape', '_reshape_alias', 'expand', 'as_strided', 'slice',
        'select', 'split', 'split_with_sizes', 'unbind', 'squeeze', 'unsqueeze', 't',
        'transpose', 'permute', 'detach', 'alias', 'narrow', 'flatten', 'empty',
        'empty_strided', 'empty_like', 'resize_', 'lift_fresh', 'contiguous', 'chunk',
        'expand_as', 'view_as', 'numpy_T', 'to', '_to_copy', 'resolve_conj', 'resolve_neg',
        'unflatten'))


class Candidate(NamedTuple):
    """One network on one path, ready to take training steps."""
    network: str
    attention: str
    path: str
    step: Callable[[], None]
    params: int
    flops: int
    graph_breaks: Optional[int]


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description='Time whole-network training steps')
    parser.add_argument('--networks', nargs='+', choices=list(NETWORKS), default=list(NETWORKS))
    parser.add_argument('--paths', nargs='+', choices=list(PATHS), default=list(PATHS))
    parser.add_argument('--no-timm', action='store_true', help='leave out timm\'s ResNet-50s')
    parser.add_argument('--operation-costs', action='store_true',
                        help='then time HOGA with the edges of each of its operations, and with '
                        'all edges, made skip_connect (on the first path) and print what each '
                        'part adds to the step')
    parser.add_argument('--rounds', type=int, default=5, help='timed steps of each candidate')
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    args = parser.parse_args(argv)
    for name in ('rounds', 'threads'):
        if getattr(args, name) < 1:
            raise ValueError(f'--{name}={getattr(args, name)}: expected >= 1')
    return args


def training_step(model: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor],
                  images: torch.Tensor, labels: torch.Tensor,
                  mode: str) -> Callable[[], None]:
    """One SGD step of ``forward`` (images (N, 3, H, W) -> logits (N, classes)) in ``mode``."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> None:
        with forced_ops_mode(mode):
            loss = F.cross_entropy(forward(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return step


@contextlib.contextmanager
def counting_graph_breaks() -> Iterator[List[int]]:
    """Dynamo's graph breaks in the code run inside: a list whose one item is set on exit."""
    from torch._dynamo.utils import counters
    before = sum(counters['graph_break'].values())
    count = [0]
    yield count
    count[0] = sum(counters['graph_break'].values()) - before


def network_candidate(network: str, attention: str, path: str, cfg: Config,
                      complexity: Complexity, seed: int = 0) -> Candidate:
    """``network`` built from ``cfg`` on ``path``, ready to take training steps.

    ``complexity`` is the :func:`model_complexity` of the model ``cfg`` builds;
    a ``torch.compile`` path compiles here, in one untimed step.
    """
    spec = NETWORKS[network]
    mode, compiled = PATHS[path]
    torch.manual_seed(seed)
    model = build_model(cfg).train()
    images = torch.randn(spec['batch'], 3, spec['size'], spec['size'])
    labels = torch.randint(0, model.head.num_classes, (spec['batch'], ))

    def forward(x):
        return model(x, mode='tensor')

    breaks = [None]
    if compiled:
        torch._dynamo.reset()
        forward = torch.compile(forward)
        step = training_step(model, forward, images, labels, mode)
        start = time.perf_counter()
        with counting_graph_breaks() as breaks:
            step()  # compiles
        print(f'{network} {attention} {path}: compiled in '
              f'{time.perf_counter() - start:.0f} s', flush=True)
    else:
        step = training_step(model, forward, images, labels, mode)
    return Candidate(network, attention, path, step, complexity.params, complexity.flops,
                     breaks[0])


def network_config(network: str, attention: str) -> Config:
    """The config of ``network`` with ``attention`` (a key of its ``configs``)."""
    return load_config(str(REPO_ROOT / NETWORKS[network]['configs'][attention]))


def config_complexity(network: str, cfg: Config) -> Complexity:
    """Parameters and forward FLOPs of the model ``cfg`` builds, on one image of ``network``."""
    size = NETWORKS[network]['size']
    return model_complexity(build_model(cfg), torch.rand(1, 3, size, size))


def our_candidates(network: str, paths: List[str], seed: int = 0) -> List[Candidate]:
    """Every attention of ``network`` on every path in ``paths``."""
    candidates = []
    for attention in NETWORKS[network]['configs']:
        cfg = network_config(network, attention)
        complexity = config_complexity(network, cfg)
        candidates += [network_candidate(network, attention, path, cfg, complexity, seed)
                       for path in paths]
    return candidates


def without(operation: str) -> str:
    """The name of the candidate whose HOGA has its ``operation`` edges ``skip_connect``."""
    return f'HOGA without {operation}'


def gating_operations(genotype: Genotype) -> List[str]:
    """The operations of ``genotype`` other than ``skip_connect``, in :data:`PRIMITIVES` order."""
    return sorted({op for op, _ in genotype.edges} - {'skip_connect'}, key=PRIMITIVES.index)


def operation_genotypes(genotype: Genotype) -> Dict[str, Genotype]:
    """``genotype`` with the edges of each of its operations made ``skip_connect``.

    Keyed by :func:`without` of each of its :func:`gating_operations`, then
    :data:`SKELETON`: every edge ``skip_connect``.
    """
    operations = gating_operations(genotype)

    def skipping(names):
        return Genotype.from_edges([('skip_connect' if op in names else op, slot)
                                    for op, slot in genotype.edges], genotype.num_nodes)

    variants = {without(op): skipping({op}) for op in operations}
    variants[SKELETON] = skipping(set(operations))
    return variants


def with_genotype(cfg: Config, genotype: Genotype) -> Config:
    """A copy of ``cfg`` whose HOGA plugins all take ``genotype``."""
    cfg = copy.deepcopy(cfg)
    plugins = [plugin for plugin in cfg.model.backbone.get('plugins') or ()
               if plugin['cfg']['type'] == 'HOGA']
    if not plugins:
        raise ValueError('the config has no HOGA plugin in model.backbone.plugins')
    for plugin in plugins:
        plugin['cfg']['genotype'] = str(genotype)
    return cfg


def operation_candidates(network: str, path: str, genotype: Genotype,
                         seed: int = 0) -> List[Candidate]:
    """``network`` on ``path`` without attention, with HOGA of ``genotype``, then its variants.

    The variants are the :func:`operation_genotypes` of ``genotype``, named as
    that function keys them.
    """
    hoga_cfg = network_config(network, 'HOGA')
    configs = {'plain': network_config(network, 'plain'),
               'HOGA': with_genotype(hoga_cfg, genotype)}
    configs.update({name: with_genotype(hoga_cfg, variant)
                    for name, variant in operation_genotypes(genotype).items()})
    return [network_candidate(network, name, path, cfg, config_complexity(network, cfg), seed)
            for name, cfg in configs.items()]


def paired_differences(later: List[float], earlier: List[float]) -> List[float]:
    """``later[r] - earlier[r]`` for every round ``r``."""
    return [a - b for a, b in zip(later, earlier)]


def interquartile_range(values: List[float]) -> Optional[float]:
    """The spread of ``values`` between their quartiles (inclusive); None for fewer than 2."""
    if len(values) < 2:
        return None
    first, _, third = statistics.quantiles(values, n=4, method='inclusive')
    return third - first


def share(part: float, whole: float) -> str:
    """``part / whole`` as a percentage; '-' where ``whole`` is not positive."""
    return f'{part / whole:.0%}' if whole > 0 else '-'


def cost_row(part: str, edges: str, differences: List[float], flops: int, added: float,
             added_flops: int) -> str:
    """One row of :func:`operation_cost_table`: the median and spread of ``differences``
    (seconds), the FLOPs, and both as shares of HOGA's (``added``, ``added_flops``)."""
    spread = interquartile_range(differences)
    seconds = statistics.median(differences)
    return (f'{part:<22} {edges:>5} {seconds * 1e3:8.1f} '
            f'{"-" if spread is None else f"{spread * 1e3:.1f}":>7} {share(seconds, added):>6} '
            f'{flops / 1e6:8.1f} {share(flops, added_flops):>6}')


def operation_cost_table(candidates: List[Candidate], times: Dict[int, List[float]],
                         genotype: Genotype) -> str:
    """What each operation of HOGA's ``genotype``, and HOGA's skeleton, add to the step.

    ``candidates`` as :func:`operation_candidates` makes them and ``times``
    their steps per round. An operation adds what HOGA's step loses when its
    edges become ``skip_connect``; the skeleton adds what HOGA with every edge
    ``skip_connect`` takes beyond the plain step. Each is the median of the
    differences within a round, with their interquartile range (a cost
    smaller than that is within the machine's noise), and a share of HOGA's
    own (HOGA minus plain), as are the forward FLOPs beside it.
    """
    by_name = {c.attention: (c, times[i]) for i, c in enumerate(candidates)}
    (plain, plain_times), (hoga, hoga_times) = by_name['plain'], by_name['HOGA']
    edges = Counter(op for op, _ in genotype.edges)
    added_differences = paired_differences(hoga_times, plain_times)
    added, added_flops = statistics.median(added_differences), hoga.flops - plain.flops
    parts = {op: (str(edges[op]), paired_differences(hoga_times, by_name[without(op)][1]),
                  hoga.flops - by_name[without(op)][0].flops)
             for op in gating_operations(genotype)}
    skeleton, skeleton_times = by_name[SKELETON]
    parts['skeleton'] = ('-', paired_differences(skeleton_times, plain_times),
                         skeleton.flops - plain.flops)
    parts['HOGA'] = (str(sum(edges.values())), added_differences, added_flops)
    lines = [f'{hoga.network} on {hoga.path}: what HOGA adds to the training step, part by '
             f'part (medians and interquartile ranges over rounds of differences within a '
             f'round)',
             f'{"part":<22} {"edges":>5} {"ms/step":>8} {"IQR ms":>7} {"share":>6} '
             f'{"MFLOPs":>8} {"share":>6}']
    lines += [cost_row(part, *row, added, added_flops) for part, row in parts.items()]
    summed = sum(statistics.median(row[1]) for part, row in parts.items() if part != 'HOGA')
    skeleton_ratio = statistics.median(s / p for s, p in zip(skeleton_times, plain_times))
    lines.append(f'{hoga.network} HOGA skeleton (every edge skip_connect): '
                 f'{skeleton_ratio:.2f}x the plain step; the parts sum to '
                 f'{share(summed, added)} of what HOGA adds')
    return '\n'.join(lines)


def timm_candidates(seed: int = 0) -> List[Candidate]:
    """timm's ResNet-50 without attention and with its SE and CBAM blocks, batch 8."""
    try:
        import timm
    except ImportError as error:
        raise SystemExit(f'timm is needed for the peers ({error}); install it or pass '
                         '--no-timm') from error
    spec = NETWORKS['resnet50']
    candidates = []
    for attention, layer in TIMM_ATTENTION.items():
        torch.manual_seed(seed)
        block_args = {} if layer is None else dict(attn_layer=layer)
        model = timm.create_model('resnet50', block_args=block_args).train()
        complexity = model_complexity(model.eval(), torch.rand(1, 3, 224, 224))
        model.train()
        images = torch.randn(spec['batch'], 3, spec['size'], spec['size'])
        labels = torch.randint(0, model.num_classes, (spec['batch'], ))
        candidates.append(Candidate('resnet50', attention, 'timm',
                                    training_step(model, model, images, labels, 'reference'),
                                    complexity.params, complexity.flops, None))
    return candidates


def round_robin(candidates: List[Candidate], rounds: int) -> Dict[int, List[float]]:
    """Seconds of one step of every candidate (by index), one per round."""
    times: Dict[int, List[float]] = {i: [] for i in range(len(candidates))}
    for done in range(rounds):
        for i, candidate in enumerate(candidates):
            candidate.step()
            start = time.perf_counter()
            candidate.step()
            times[i].append(time.perf_counter() - start)
        print(f'round {done + 1}/{rounds} done', flush=True)
    return times


def hoga_operator_calls(mode: str = 'compiled') -> int:
    """Compute operator calls of one forward+backward of the first HOGA of ResNet-20.

    The ``aten::``/``autola_mm::`` events of the profiler that call no other
    compute operator (on a GPU, each is a kernel launch), views and allocations
    excluded. The gradients start as None, as in a training step.
    """
    torch.manual_seed(0)
    module = HOGA(16).train()
    x = torch.randn(64, 16, 32, 32, requires_grad=True)
    grad = torch.randn_like(x)
    with forced_ops_mode(mode):
        module(x).backward(grad)
        # As a training step: the gradients start as None (zero_grad(set_to_none=True)).
        module.zero_grad(set_to_none=True)
        x.grad = None
        with profile() as prof:
            module(x).backward(grad)
    return sum(1 for event in prof.events()
               if is_compute(event.name) and not any(
                   is_compute(child.name) for child in event.cpu_children))


def is_compute(name: str) -> bool:
    """Whether a profiler event is an operator that computes (not a view or an allocation)."""
    return name.startswith(('aten::', 'autola_mm::')) and name not in VIEW_OPS


def format_table(candidates: List[Candidate], medians: Dict[int, float]) -> str:
    """One row per candidate: time, ratio to plain on the same path, params, FLOPs."""
    plain = {(c.network, c.path): medians[i] for i, c in enumerate(candidates)
             if c.attention == 'plain'}
    plain_flops = {(c.network, c.path): c.flops for c in candidates if c.attention == 'plain'}
    lines = [f'{"network":<9} {"attention":<9} {"path":<12} {"step s":>8} {"x plain":>8} '
             f'{"params M":>9} {"GFLOPs":>8} {"x plain":>8} {"breaks":>7}']
    for i, c in enumerate(candidates):
        key = (c.network, c.path)
        ratio = f'{medians[i] / plain[key]:.2f}' if key in plain else '-'
        flops_ratio = f'{c.flops / plain_flops[key]:.3f}' if key in plain_flops else '-'
        breaks = c.graph_breaks
        lines.append(f'{c.network:<9} {c.attention:<9} {c.path:<12} {medians[i]:8.3f} '
                     f'{ratio:>8} {c.params / 1e6:9.2f} {c.flops / 1e9:8.3f} {flops_ratio:>8} '
                     f'{"-" if breaks is None else breaks:>7}')
    return '\n'.join(lines)


def headline(candidates: List[Candidate], medians: Dict[int, float], calls: int) -> str:
    """The ratios the issue's targets name, on the first path measured, and the call count."""
    path = candidates[0].path
    times = {(c.network, c.attention): medians[i] for i, c in enumerate(candidates)
             if c.path == path}
    parts = [f'{attention} {network} {times[network, attention] / times[network, "plain"]:.2f}x'
             for network in NETWORKS for attention in ('SE', 'CBAM', 'HOGA')
             if (network, attention) in times and (network, 'plain') in times]
    return (f'training step relative to no attention ({path}): {", ".join(parts)}; '
            f'HOGA forward+backward: {calls} compute operator calls')


def main(argv=None) -> None:
    """Build every candidate, time them round-robin, print the table and the headline."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    candidates = []
    for network in args.networks:
        candidates += our_candidates(network, args.paths)
        print(f'{network}: built', flush=True)
    if 'resnet50' in args.networks and not args.no_timm:
        candidates += timm_candidates()
    medians = {i: statistics.median(t) for i, t in round_robin(candidates, args.rounds).items()}
    print(format_table(candidates, medians))
    print(headline(candidates, medians, hoga_operator_calls(PATHS[args.paths[0]][0])))
    if args.operation_costs:
        del candidates  # free the networks timed so far
        genotype = Genotype.build()
        for network in args.networks:
            variants = operation_candidates(network, args.paths[0], genotype)
            print(operation_cost_table(variants, round_robin(variants, args.rounds), genotype))


if __name__ == '__main__':
    main()
