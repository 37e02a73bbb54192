"""How stable is a searched HOGA? Compare several AutoLA searches edge by edge.

Searches that differ only in their seed (``tools/search.py CONFIG --seed S``)
should derive the same cell if the search is stable; DARTS-style searches
often do not. For every work dir this reads ``genotype.json`` (the chosen
operation of every edge) and ``alphas.npy`` (``alpha`` after every epoch, the
row of the epoch the genotype was written at), then prints, per edge:

* the operation every search chose and the agreement, the share of searches
  that chose the most frequent one;
* the spread of that operation's weight ``softmax(alpha)`` over the searches
  (mean, standard deviation, min..max);

and draws one figure (``--out``): per edge, every search's weights of every
primitive and their mean.

Example:
    for seed in 0 1 2; do python tools/search.py CONFIG --seed $seed \\
        --work-dir work_dirs/search_seed$seed; done
    python tools/analysis/compare_searches.py work_dirs/search_seed{0,1,2}
"""
import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from matplotlib.figure import Figure

from autola_mm.engine.search_plots import softmax
from autola_mm.models.attention import PRIMITIVES, Genotype
from autola_mm.models.attention.search_space import edge_names
from autola_mm.models.search import derive_genotype

EdgeReport = Dict[str, object]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR',
                        help='work dirs of finished searches (two or more)')
    parser.add_argument('--out', default='search_comparison.png',
                        help='the figure (default: search_comparison.png)')
    args = parser.parse_args(argv)
    if len(args.work_dirs) < 2:
        parser.error(f'one work dir ({args.work_dirs[0]}): compare two or more searches')
    return args


def load_search(work_dir: Path) -> Tuple[Genotype, np.ndarray]:
    """The genotype of a search and ``softmax(alpha)`` at the epoch it was written.

    Args:
        work_dir (Path): A search's work dir.

    Returns:
        tuple[Genotype, np.ndarray]: The genotype and its weights, shape
        (edges, len(PRIMITIVES)).
    """
    files = [work_dir / 'genotype.json', work_dir / 'alphas.npy']
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f'{path} not found: a finished search writes it '
                                    f'(tools/search.py CONFIG --work-dir {work_dir})')
    genotype = Genotype.from_json(files[0])
    history = np.load(files[1])
    epoch = json.loads(files[0].read_text()).get('meta', {}).get('epoch', len(history) - 1)
    if epoch >= len(history) or derive_genotype(torch.from_numpy(history[epoch])) != genotype:
        raise ValueError(f'{files[0]} (epoch {epoch}) is not what {files[1]} derives at that '
                         'epoch: are both from the same search?')
    return genotype, softmax(history[epoch].astype(np.float64))


def compare(genotypes: Sequence[Genotype], weights: np.ndarray) -> List[EdgeReport]:
    """Agreement of the chosen operations and spread of their weights, edge by edge.

    Args:
        genotypes (Sequence[Genotype]): One per search, all of one size.
        weights (np.ndarray): ``softmax(alpha)`` of every search, shape
            (searches, edges, len(PRIMITIVES)).

    Returns:
        list[dict]: Per edge: ``edge`` (its name), ``ops`` (every search's
        choice), ``op`` (the most frequent), ``agreement`` (its share) and
        ``weights`` (its weight in every search, shape (searches, )).
    """
    reports = []
    names = edge_names(genotypes[0].num_nodes)
    for edge, name in enumerate(names):
        ops = [genotype.edges[edge][0] for genotype in genotypes]
        op, count = Counter(ops).most_common(1)[0]
        reports.append(dict(edge=name, ops=ops, op=op, agreement=count / len(ops),
                            weights=weights[:, edge, PRIMITIVES.index(op)]))
    return reports


def format_report(work_dirs: Sequence[Path], reports: Sequence[EdgeReport]) -> str:
    """The table ``main`` prints: one line per edge, then a summary."""
    lines = [f'{len(work_dirs)} searches: ' + ', '.join(map(str, work_dirs)),
             f'{"edge":8} {"agreement":>9}  {"most chosen":20} {"weight: mean ± std":>19} '
             f'{"(min..max)":>14}  every search']
    for r in reports:
        w = r['weights']
        lines.append(f'{r["edge"]:8} {r["agreement"]:9.2f}  {r["op"]:20} {w.mean():9.3f} ± '
                     f'{w.std():.3f} ({w.min():.3f}..{w.max():.3f})  {" ".join(r["ops"])}')
    unanimous = sum(r['agreement'] == 1 for r in reports)
    mean = np.mean([r['agreement'] for r in reports])
    lines.append(f'all searches agree on {unanimous}/{len(reports)} edges; mean agreement '
                 f'{mean:.2f}')
    return '\n'.join(lines)


def plot_comparison(weights: np.ndarray, reports: Sequence[EdgeReport], path: str) -> None:
    """Draw every search's ``softmax(alpha)`` of every edge, one panel per edge.

    Args:
        weights (np.ndarray): Shape (searches, edges, len(PRIMITIVES)).
        reports (Sequence[dict]): :func:`compare`'s result, for the titles.
        path (str): Destination PNG.
    """
    cols = min(5, len(reports))
    rows = -(-len(reports) // cols)
    fig = Figure(figsize=(3.2 * cols, 2.8 * rows), layout='constrained')
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    x = np.arange(len(PRIMITIVES))
    for edge, (ax, report) in enumerate(zip(axes.flat, reports)):
        ax.bar(x, weights[:, edge].mean(axis=0), color='#cfe2f3')
        for search in weights[:, edge]:
            ax.plot(x, search, 'o', markersize=3, color='#444444')
        ax.set_title(f'{report["edge"]}: {report["op"]} ({report["agreement"]:.2f})',
                     fontsize=9)
        ax.set_xticks(x, PRIMITIVES, rotation=90, fontsize=7)
    for ax in axes.flat[len(reports):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel('softmax(alpha)')
    fig.savefig(path, dpi=100)


def main(argv: Optional[Sequence[str]] = None) -> List[EdgeReport]:
    """Print the comparison, draw the figure and return the per-edge reports."""
    args = parse_args(argv)
    work_dirs = [Path(d) for d in args.work_dirs]
    genotypes, weights = zip(*[load_search(d) for d in work_dirs])
    sizes = sorted({g.num_nodes for g in genotypes})
    if len(sizes) > 1:
        raise ValueError(f'the searches have cells of {sizes} nodes: compare searches of one '
                         'search space')
    weights = np.stack(weights)
    reports = compare(genotypes, weights)
    print(format_report(work_dirs, reports))
    plot_comparison(weights, reports, args.out)
    print(f'figure: {args.out}')
    return reports


if __name__ == '__main__':
    main()
