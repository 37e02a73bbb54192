"""LocalCIFAR10/100 read back exactly what write_cifar_files wrote."""
import numpy as np
import pytest

from autola_mm.datasets import LocalCIFAR10, LocalCIFAR100, write_cifar_files


def _images(count, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize('dataset_cls,name', [(LocalCIFAR10, 'cifar10'),
                                              (LocalCIFAR100, 'cifar100')])
def test_round_trip(tmp_path, dataset_cls, name):
    train, test = _images(12, 0), _images(3, 1)
    train_labels, test_labels = [i % 3 for i in range(12)], [2, 0, 1]
    write_cifar_files(tmp_path, (train, train_labels), (test, test_labels),
                      ['a', 'b', 'c'], dataset=name)

    train_set = dataset_cls(data_root=str(tmp_path), split='train')
    test_set = dataset_cls(data_root=str(tmp_path), split='test')

    assert len(train_set) == 12 and len(test_set) == 3
    assert train_set.metainfo['classes'] == ('a', 'b', 'c')
    for index in (0, 7, 11):
        item = train_set.get_data_info(index)
        np.testing.assert_array_equal(item['img'], train[index])
        assert item['gt_label'] == train_labels[index]
    assert [test_set.get_data_info(i)['gt_label'] for i in range(3)] == test_labels


def test_metainfo_classes_override_the_meta_file(tmp_path):
    write_cifar_files(tmp_path, (_images(5, 0), [0] * 5), (_images(1, 1), [1]),
                      ['x', 'y'])
    dataset = LocalCIFAR10(data_root=str(tmp_path), metainfo=dict(classes=('zero', 'one')))
    assert dataset.metainfo['classes'] == ('zero', 'one')


def test_missing_files_name_the_path_and_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'data_batch_1 does not exist.*docs/data.md'):
        LocalCIFAR10(data_root=str(tmp_path))


def test_bad_split_and_bad_images_are_refused(tmp_path):
    with pytest.raises(ValueError, match="'val'"):
        LocalCIFAR10(data_root=str(tmp_path), split='val')
    with pytest.raises(ValueError, match='uint8 of shape'):
        write_cifar_files(tmp_path, (np.zeros((2, 28, 28, 3), np.uint8), [0, 0]),
                          (_images(1, 0), [0]), ['a'])
