"""Fixtures of the search tests."""
from pathlib import Path

import pytest
from search_testkit import write_cifar10_layout


@pytest.fixture(scope='session')
def synthetic_cifar(tmp_path_factory) -> Path:
    """32 training and 8 test images of CIFAR-10's on-disk format."""
    return write_cifar10_layout(tmp_path_factory.mktemp('cifar10'), num_train=32, num_test=8)
