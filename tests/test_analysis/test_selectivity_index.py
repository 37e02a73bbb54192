"""The class selectivity index against hand-computed values."""
import pytest
import torch

from autola_mm.analysis.selectivity import (ClassMeanAccumulator,
                                            class_selectivity_index)


def test_index_of_hand_computed_class_means():
    # Columns are channels, rows classes.
    class_means = torch.tensor([
        [1., 4., 0., 3., 2.],
        [1., 0., 0., 1., 4.],
        [1., 0., 0., 2., 0.],
    ])
    index = class_selectivity_index(class_means)
    # ch0 equal: 0; ch1 one class: 1; ch2 silent: 0;
    # ch3 (3 - 1.5) / (3 + 1.5) = 1/3; ch4 (4 - 1) / (4 + 1) = 3/5.
    expected = torch.tensor([0., 1., 0., 1 / 3, 3 / 5])
    assert not torch.isnan(index).any()
    torch.testing.assert_close(index, expected)


def test_silent_channel_in_float16_is_zero_not_nan():
    index = class_selectivity_index(torch.zeros(10, 3, dtype=torch.float16))
    assert index.dtype == torch.float16
    assert torch.equal(index, torch.zeros(3, dtype=torch.float16))


def _activations():
    """Five images, three channels of 2 x 2, labels 0, 0, 1, 2 (class 3 unseen)."""
    maps = torch.zeros(4, 3, 2, 2)
    maps[0, 0] = 2.
    maps[0, 1, 1, 1] = 4.       # spatial mean 1
    maps[1, 0] = 4.
    maps[2, 0] = 1.
    maps[2, 1] = 2.
    maps[3, 0, 0, 0] = 8.       # spatial mean 2
    return maps, torch.tensor([0, 0, 1, 2])


def test_accumulator_streams_class_means_and_index():
    maps, labels = _activations()
    accumulator = ClassMeanAccumulator(num_classes=4)
    accumulator.update(maps[:3], labels[:3])
    accumulator.update(maps[3:], labels[3:])
    # Class means (class 3 has no image and is left out):
    # ch0: (2 + 4) / 2 = 3, 1, 2; ch1: (1 + 0) / 2 = 0.5, 2, 0; ch2: silent.
    torch.testing.assert_close(
        accumulator.class_means(),
        torch.tensor([[3., 0.5, 0.], [1., 2., 0.], [2., 0., 0.]], dtype=torch.float64))
    # ch0: (3 - 1.5) / 4.5 = 1/3; ch1: (2 - 0.25) / 2.25 = 7/9; ch2: 0.
    torch.testing.assert_close(
        accumulator.selectivity(), torch.tensor([1 / 3, 7 / 9, 0.], dtype=torch.float64))


def test_accumulator_memory_does_not_grow_with_images():
    accumulator = ClassMeanAccumulator(num_classes=3)
    for _ in range(5):
        accumulator.update(torch.rand(8, 6, 4, 4), torch.randint(0, 3, (8, )))
    assert accumulator.sums.shape == (3, 6)
    assert accumulator.counts.sum().item() == 40


@pytest.mark.parametrize('class_means, message', [
    (torch.tensor([[1., -0.5], [1., 1.]]), 'non-negative'),
    (torch.ones(1, 4), 'at least 2 classes'),
    (torch.ones(4), 'shape'),
])
def test_index_rejects_bad_class_means(class_means, message):
    with pytest.raises(ValueError, match=message):
        class_selectivity_index(class_means)


def test_accumulator_rejects_labels_outside_the_classes():
    accumulator = ClassMeanAccumulator(num_classes=3)
    with pytest.raises(ValueError, match=r'\[0, 3\), got 0..3'):
        accumulator.update(torch.rand(2, 4, 2, 2), torch.tensor([0, 3]))
