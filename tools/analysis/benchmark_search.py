"""Time one step of the AutoLA search (Ma et al., NeurIPS 2020) on the CPU.

One step is what :class:`AutoLASearchLoop` runs per iteration: an
architecture step on a validation batch (first-order unless ``--unrolled``),
then a weight step with gradient clipping on a training batch. The model and
optimizers come from a search config; the batches are random images, so no
dataset is needed. Prints every step's wall time and the median, the CPU
time the process used, which other programs on a shared machine disturb less,
and the machine's load average before and after, which says how much they did.

Example:
    python tools/analysis/benchmark_search.py                       # ResNet-20, batch 64
    python tools/analysis/benchmark_search.py --steps 20 --threads 1
"""
import argparse
import os
import statistics
import time
from typing import Dict, List, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS
from mmengine.structures import BaseDataElement

import autola_mm  # noqa: F401  (registers the search model)

DEFAULT_CONFIG = 'configs/search/autola_resnet20_cifar10.py'


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description='Time one AutoLA search step')
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG,
                        help=f'search config (default: {DEFAULT_CONFIG})')
    parser.add_argument('--batch-size', type=int, default=64, help='images per batch')
    parser.add_argument('--image-size', type=int, default=32, help='height and width')
    parser.add_argument('--steps', type=int, default=10, help='timed steps')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps first')
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    parser.add_argument('--unrolled', action='store_true',
                        help='second-order architecture step')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config entries, e.g. model.backbone.depth=32')
    args = parser.parse_args(argv)
    for name in ('batch_size', 'image_size', 'steps', 'threads'):
        if getattr(args, name) < 1:
            raise ValueError(f'--{name.replace("_", "-")}={getattr(args, name)}: expected >= 1')
    if args.warmup < 0:
        raise ValueError(f'--warmup={args.warmup}: expected >= 0')
    return args


def random_batch(batch_size: int, image_size: int, num_classes: int) -> Dict[str, list]:
    """A batch as the dataloader yields it: uint8 images and labelled samples."""
    return dict(
        inputs=[torch.randint(0, 256, (3, image_size, image_size), dtype=torch.uint8)
                for _ in range(batch_size)],
        data_samples=[BaseDataElement(gt_label=torch.tensor([i % num_classes]))
                      for i in range(batch_size)])


def time_steps(args: argparse.Namespace) -> Tuple[List[float], List[float]]:
    """Build the model and optimizers of ``args.config`` and time its steps.

    Returns:
        tuple[list[float], list[float]]: Wall and CPU seconds of every timed step.
    """
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.unrolled:
        cfg.model.unrolled = True
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    num_classes = model.fc.out_features
    data = dict(train=random_batch(args.batch_size, args.image_size, num_classes),
                val=random_batch(args.batch_size, args.image_size, num_classes))
    wall, cpu = [], []
    for step in range(args.warmup + args.steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        model.train_step(data, optim_wrapper)
        if step >= args.warmup:
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            print(f'step {step - args.warmup + 1}/{args.steps}: {wall[-1]:.3f} s '
                  f'(CPU {cpu[-1]:.3f} s)', flush=True)
    return wall, cpu


def main(argv=None) -> float:
    """Print and return the median wall seconds of one search step."""
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    wall, cpu = time_steps(args)
    load_after = os.getloadavg()[0]
    median = statistics.median(wall)
    order = 'second' if args.unrolled else 'first'
    print(f'{order}-order search step, batch {args.batch_size}, {args.image_size}x'
          f'{args.image_size}, {args.threads} threads, {args.config}: median {median:.3f} s '
          f'(min {min(wall):.3f} s, max {max(wall):.3f} s, {len(wall)} steps; '
          f'CPU time median {statistics.median(cpu):.3f} s; 1-minute load average '
          f'{load_before:.2f} before, {load_after:.2f} after)')
    return median


if __name__ == '__main__':
    main()
