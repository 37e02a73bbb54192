"""The data-root check that tools/train.py and tools/test.py run first."""
from pathlib import Path

import pytest
from mmengine.config import ConfigDict

from autola_mm.utils.data_layout import (DataLayoutError, check_data_roots,
                                         data_layout_problems)

CIFAR10_FILES = ('data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4',
                 'data_batch_5', 'test_batch', 'batches.meta')


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'')
    return path


def loaders_cfg(dataset: dict, **extra) -> ConfigDict:
    return ConfigDict(train_dataloader=dict(dataset=dataset),
                      val_dataloader=dict(dataset=dataset), **extra)


def cifar10_root(tmp_path: Path, files=CIFAR10_FILES) -> Path:
    for name in files:
        touch(tmp_path / 'cifar10' / 'cifar-10-batches-py' / name)
    return tmp_path / 'cifar10'


def test_complete_cifar10_passes(tmp_path):
    root = cifar10_root(tmp_path)
    cfg = loaders_cfg(dict(type='CIFAR10', data_root=str(root), split='train'))
    assert data_layout_problems(cfg, ('train_dataloader', 'val_dataloader')) == {}
    check_data_roots(cfg, ('train_dataloader', 'val_dataloader'))


def test_missing_cifar_root_gives_one_message_with_layout_and_doc(tmp_path):
    root = tmp_path / 'nowhere'
    cfg = loaders_cfg(dict(type='mmpretrain.CIFAR10', data_root=str(root)))
    with pytest.raises(DataLayoutError) as info:
        check_data_roots(cfg, ('train_dataloader', 'val_dataloader'))
    message = str(info.value)
    assert message.count(f"data root '{root}' does not exist") == 2  # one line per loader
    assert 'cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}' in message
    assert 'docs/data.md' in message
    assert message.count('Expected layout') == 1


def test_missing_cifar_files_are_named(tmp_path):
    root = cifar10_root(tmp_path, CIFAR10_FILES[:4])
    cfg = loaders_cfg(dict(type='CIFAR10', data_root=str(root)))
    [line, _] = data_layout_problems(cfg, ('train_dataloader', 'val_dataloader'))['CIFAR10']
    assert line.endswith('lacks data_batch_5, test_batch, batches.meta')
    assert line.startswith('train_dataloader (CIFAR10): ')


def test_root_pointing_into_the_batch_folder_is_explained(tmp_path):
    root = cifar10_root(tmp_path) / 'cifar-10-batches-py'
    cfg = ConfigDict(train_dataloader=dict(dataset=dict(type='CIFAR10', data_root=str(root))))
    [line] = data_layout_problems(cfg, ('train_dataloader', ))['CIFAR10']
    assert 'holds the batch files themselves' in line
    assert 'contains cifar-10-batches-py/' in line


def test_cifar100_layout(tmp_path):
    for name in ('train', 'test'):
        touch(tmp_path / 'cifar-100-python' / name)
    cfg = ConfigDict(test_dataloader=dict(dataset=dict(type='CIFAR100', data_root=str(tmp_path))))
    [line] = data_layout_problems(cfg, ('test_dataloader', ))['CIFAR100']
    assert line.endswith('lacks meta')
    touch(tmp_path / 'cifar-100-python' / 'meta')
    assert data_layout_problems(cfg, ('test_dataloader', )) == {}


def test_imagenet_class_folders_and_list_files(tmp_path):
    touch(tmp_path / 'train' / 'n01440764' / 'a.JPEG')
    touch(tmp_path / 'val' / 'b.JPEG')
    train = dict(type='ImageNet', data_root=str(tmp_path), split='train')
    val = dict(type='ImageNet', data_root=str(tmp_path), split='val')
    cfg = ConfigDict(train_dataloader=dict(dataset=train), val_dataloader=dict(dataset=val))
    [line] = data_layout_problems(cfg, ('train_dataloader', 'val_dataloader'))['ImageNet']
    assert line.startswith('val_dataloader (ImageNet): ')
    assert 'has no class folders' in line and "meta/val.txt'" in line
    touch(tmp_path / 'meta' / 'val.txt')
    assert data_layout_problems(cfg, ('train_dataloader', 'val_dataloader')) == {}


def test_imagenet_missing_split_and_explicit_list_file(tmp_path):
    touch(tmp_path / 'train' / 'a.JPEG')
    cfg = ConfigDict(
        train_dataloader=dict(dataset=dict(type='CustomDataset', data_root=str(tmp_path),
                                           data_prefix='train', ann_file='lists/train.txt')),
        val_dataloader=dict(dataset=dict(type='ImageNet', data_root=str(tmp_path),
                                         split='val')))
    lines = data_layout_problems(cfg, ('train_dataloader', 'val_dataloader'))['ImageNet']
    assert lines == [
        f"train_dataloader (CustomDataset): list file '{tmp_path}/lists/train.txt' "
        'does not exist',
        f"val_dataloader (ImageNet): image folder '{tmp_path}/val' does not exist"
    ]


def test_coco_annotations_images_person_boxes_and_evaluator(tmp_path):
    touch(tmp_path / 'annotations' / 'instances_val2017.json')
    dataset = dict(type='mmdet.CocoDataset', data_root=f'{tmp_path}/',
                   ann_file='annotations/instances_val2017.json',
                   data_prefix=dict(img='val2017/'), bbox_file=str(tmp_path / 'boxes.json'))
    cfg = ConfigDict(
        val_dataloader=dict(dataset=dataset),
        val_evaluator=[dict(type='CocoMetric', ann_file=str(tmp_path / 'missing.json'))])
    lines = data_layout_problems(cfg, ('val_dataloader', ))['COCO']
    assert lines == [
        f"val_dataloader (mmdet.CocoDataset): image folder '{tmp_path}/val2017/' does not "
        'exist',
        f"val_dataloader (mmdet.CocoDataset): person detection file '{tmp_path}/boxes.json' "
        'does not exist',
        f"val_evaluator: annotation file '{tmp_path}/missing.json' does not exist",
    ]


def test_wrapped_datasets_are_checked_and_unknown_types_skipped(tmp_path):
    root = cifar10_root(tmp_path)
    cfg = ConfigDict(train_dataloader=dict(dataset=dict(
        type='ConcatDataset',
        datasets=[
            dict(type='RepeatDataset', times=2,
                 dataset=dict(type='CIFAR10', data_root=str(tmp_path / 'gone'))),
            dict(type='CIFAR10', data_root=str(root)),
            dict(type='SomeOtherDataset', data_root=str(tmp_path / 'gone')),
        ])))
    problems = data_layout_problems(cfg, ('train_dataloader', ))
    assert problems == {
        'CIFAR10': [f"train_dataloader (CIFAR10): data root '{tmp_path}/gone' does not exist"]
    }


def test_absent_loaders_and_remote_roots_are_not_checked():
    cfg = ConfigDict(train_dataloader=dict(dataset=dict(type='CIFAR10',
                                                        data_root='s3://bucket/cifar10')),
                     test_dataloader=None)
    assert data_layout_problems(cfg, ('train_dataloader', 'val_dataloader',
                                      'test_dataloader')) == {}
