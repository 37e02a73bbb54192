"""Fixtures of the tool tests."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Run torch on one thread: the tool tests train real models on a small
    machine that other work shares, where more threads only wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
