"""Check that a config's datasets are on disk before a Runner is built.

The experiments of AutoLA (Ma et al., "Auto Learning Attention", NeurIPS 2020)
read CIFAR-10/100, ImageNet and COCO in the layouts of mmpretrain, mmdet and
mmpose. Without this check a missing or misplaced data root surfaces deep in a
dataset constructor (or, for mmpretrain's CIFAR, as an attempt to download).
:func:`check_data_roots` names every missing path, the layout the config
expects and ``docs/data.md`` in one message.
"""
import os
import os.path as osp
from functools import partial
from itertools import chain
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import ConfigDict

from ..datasets.cifar_files import DATA_DOC, LocalCIFAR10, LocalCIFAR100

# The folder and files of each CIFAR layout, as the datasets read them.
CIFAR_FILES = {
    name: (dataset.base_folder, (*chain(*dataset.split_files.values()), dataset.meta_file))
    for name, dataset in (('CIFAR10', LocalCIFAR10), ('CIFAR100', LocalCIFAR100))
}

LAYOUTS = {
    'CIFAR10': ('CIFAR-10 (the python version of the official archive, unpacked)',
                '{root}/cifar-10-batches-py/{{data_batch_1..5, test_batch, batches.meta}}'),
    'CIFAR100': ('CIFAR-100 (the python version of the official archive, unpacked)',
                 '{root}/cifar-100-python/{{train, test, meta}}'),
    'ImageNet': ('ImageNet, one folder per class or flat images with a list file',
                 '{root}/{{train,val}}/<class>/<image>.JPEG  or  {root}/{{train,val}}/'
                 '<image>.JPEG with {root}/meta/{{train,val}}.txt ("<image> <label>" lines)'),
    'COCO': ('COCO 2017, images and the official annotation files',
             '{root}/annotations/<annotation>.json and {root}/{{train2017,val2017}}/<image>.jpg'),
}
# Dataset types (mmpretrain's and autola_mm's own readers) and their layouts.
CIFAR_TYPES = {'CIFAR10': 'CIFAR10', 'LocalCIFAR10': 'CIFAR10',
               'CIFAR100': 'CIFAR100', 'LocalCIFAR100': 'CIFAR100'}
IMAGE_FOLDER_TYPES = ('ImageNet', 'CustomDataset')
COCO_TYPES = ('CocoDataset', )
WRAPPER_KEYS = ('dataset', 'datasets')


class DataLayoutError(FileNotFoundError):
    """A dataset named by a config is missing or laid out differently."""


def _join(root: str, path: str) -> str:
    """``path`` under ``root`` unless ``path`` is absolute (as BaseDataset joins)."""
    if not path:
        return root
    return path if not root or osp.isabs(path) else osp.join(root, path)


def _prefix(dataset: ConfigDict, *keys: str) -> str:
    """The first of ``keys`` in the dataset's ``data_prefix`` (str or dict)."""
    prefix = dataset.get('data_prefix') or ''
    if isinstance(prefix, str):
        return prefix
    return next((prefix[k] for k in keys if prefix.get(k)), '')


def _cifar_problems(kind: str, dataset: ConfigDict) -> List[str]:
    """Missing files of a CIFAR-10/100 dataset (``kind`` names the layout)."""
    root = _join(dataset.get('data_root', ''), _prefix(dataset, 'root'))
    folder, files = CIFAR_FILES[kind]
    if not osp.isdir(root):
        return [f'data root {root!r} does not exist']
    if osp.isfile(osp.join(root, files[0])):
        return [f'{root!r} holds the batch files themselves: set data_root to the '
                f'folder that contains {folder}/']
    missing = [name for name in files if not osp.isfile(osp.join(root, folder, name))]
    return [f'{osp.join(root, folder)!r} lacks {", ".join(missing)}'] if missing else []


def _image_folder_problems(dataset: ConfigDict) -> List[str]:
    """Missing folders or list files of an ImageNet/CustomDataset split."""
    root = dataset.get('data_root', '')
    split = dataset.get('split', '')
    images = _join(root, _prefix(dataset, 'img_path', 'img') or split)
    ann_file = dataset.get('ann_file', '')
    if not ann_file and split and osp.isfile(_join(root, f'meta/{split}.txt')):
        ann_file = f'meta/{split}.txt'
    if not osp.isdir(images):
        return [f'image folder {images!r} does not exist']
    if ann_file:
        path = _join(root, ann_file)
        return [] if osp.isfile(path) else [f'list file {path!r} does not exist']
    if split != 'test' and not any(osp.isdir(osp.join(images, name))
                                   for name in os.listdir(images)):
        return [f'{images!r} has no class folders and no list file '
                f'({_join(root, f"meta/{split}.txt")!r}) names its labels']
    return []


def _coco_problems(dataset: ConfigDict) -> List[str]:
    """Missing annotation file, image folder or person boxes of a COCO dataset."""
    root = dataset.get('data_root', '')
    problems = []
    ann_file = _join(root, dataset.get('ann_file', ''))
    if not osp.isfile(ann_file):
        problems.append(f'annotation file {ann_file!r} does not exist')
    images = _join(root, _prefix(dataset, 'img', 'img_path'))
    if not osp.isdir(images):
        problems.append(f'image folder {images!r} does not exist')
    bbox_file = dataset.get('bbox_file')
    if bbox_file and not osp.isfile(bbox_file):
        problems.append(f'person detection file {bbox_file!r} does not exist')
    return problems


def _checker(type_name: str) -> Tuple[Optional[str], Optional[Callable]]:
    """Layout name and checking function for a dataset type (None if unknown)."""
    name = type_name.split('.')[-1]
    if name in CIFAR_TYPES:
        layout = CIFAR_TYPES[name]
        return layout, partial(_cifar_problems, layout)
    if name in IMAGE_FOLDER_TYPES:
        return 'ImageNet', _image_folder_problems
    if name in COCO_TYPES:
        return 'COCO', _coco_problems
    return None, None


def _leaf_datasets(dataset: ConfigDict) -> Iterator[ConfigDict]:
    """The datasets inside wrappers such as RepeatDataset and ConcatDataset."""
    inner = [dataset[key] for key in WRAPPER_KEYS if key in dataset]
    if not inner:
        yield dataset
    for item in inner:
        for child in (item if isinstance(item, (list, tuple)) else [item]):
            yield from _leaf_datasets(child)


def _evaluator_ann_files(evaluator) -> List[str]:
    """Annotation files named by an evaluator config (a dict or a list of them)."""
    metrics = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    return [str(m['ann_file']) for m in metrics if isinstance(m, dict) and m.get('ann_file')]


def data_layout_problems(cfg: ConfigDict, loaders: Sequence[str]) -> Dict[str, List[str]]:
    """Every layout problem of the datasets behind ``loaders``.

    Args:
        cfg (ConfigDict): A full experiment config.
        loaders (Sequence[str]): Dataloader keys to check, e.g.
            ``('train_dataloader', 'val_dataloader')``; absent ones are skipped.
            The annotation files of the matching evaluators
            (``val_evaluator`` for ``val_dataloader``) are checked too.

    Returns:
        dict[str, list[str]]: Layout name (``CIFAR10``, ``CIFAR100``,
        ``ImageNet``, ``COCO``) to problem lines, each prefixed with its
        dataloader. Datasets of unknown types are not checked.
    """
    problems: Dict[str, List[str]] = {}

    def add(layout: str, line: str) -> None:
        if line not in problems.setdefault(layout, []):
            problems[layout].append(line)

    for loader in loaders:
        if not cfg.get(loader):
            continue
        for dataset in _leaf_datasets(cfg[loader]['dataset']):
            layout, check = _checker(str(dataset.get('type', '')))
            if check is None or '://' in str(dataset.get('data_root', '')):
                continue
            for problem in check(dataset):
                add(layout, f'{loader} ({dataset["type"]}): {problem}')
        evaluator = loader.replace('dataloader', 'evaluator')
        for ann_file in _evaluator_ann_files(cfg.get(evaluator)):
            if '://' not in ann_file and not osp.isfile(ann_file):
                add('COCO', f'{evaluator}: annotation file {ann_file!r} does not exist')
    return problems


def check_data_roots(cfg: ConfigDict, loaders: Sequence[str]) -> None:
    """Raise one :class:`DataLayoutError` naming every missing dataset path.

    Args:
        cfg (ConfigDict): A full experiment config.
        loaders (Sequence[str]): Dataloader keys whose datasets must exist.

    Raises:
        DataLayoutError: With the missing paths, the expected layout of each
            dataset kind involved and a pointer to ``docs/data.md``.
    """
    problems = data_layout_problems(cfg, loaders)
    if not problems:
        return
    lines = ['The config names data that is not on disk:']
    for layout, found in problems.items():
        lines += [f'  {line}' for line in found]
    lines.append('Expected layout:')
    for layout in problems:
        description, tree = LAYOUTS[layout]
        lines.append(f'  {description}: {tree.format(root="<data_root>")}')
    lines.append(f'{DATA_DOC} says how to get and lay out CIFAR, ImageNet and COCO; to read '
                 'data kept elsewhere, set the data roots with --cfg-options, e.g. '
                 'train_dataloader.dataset.data_root=/path/to/data')
    raise DataLayoutError('\n'.join(lines))
