"""Fixtures of the search tests."""
from pathlib import Path

import pytest
import torch
from search_testkit import write_cifar10_layout


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One torch thread for every test and module fixture here: the tensors are
    tiny, on a busy machine a second thread mostly waits for its turn, and runs
    compared bitwise must use the same thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def synthetic_cifar(tmp_path_factory) -> Path:
    """32 training and 8 test images of CIFAR-10's on-disk format."""
    return write_cifar10_layout(tmp_path_factory.mktemp('cifar10'), num_train=32, num_test=8)
