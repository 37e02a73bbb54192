"""Shared fixtures: paths to the data in ``../shared`` beside the checkout, and
one torch thread for the folders that train and compare tiny models."""
from pathlib import Path

import pytest
import torch

from autola_mm.ops import compiled_ops_available, forced_ops_mode

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / 'shared' / 'data'
# Their tensors are tiny: on a busy 2-core machine OpenMP's start-up and
# spinning cost more than the arithmetic (up to 50x), and runs compared
# bitwise must use the same thread count. tests/test_ops keeps the default to
# exercise the parallel loops of the compiled ops.
ONE_THREAD_FOLDERS = ('test_analysis', 'test_configs', 'test_search', 'test_tools')


def _shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f'{path} is absent: this test reads data that lives in '
                    '../shared beside the checkout')
    return path


@pytest.fixture(scope='session')
def coco_sample_dir() -> Path:
    """``../shared/data/coco_sample``: 4 COCO val images, person boxes and keypoints."""
    return _shared('coco_sample')


@pytest.fixture(scope='session')
def hoga_parity_file() -> Path:
    """``../shared/data/hoga_parity/hoga_vectors.pt``: the authors' HOGA outputs."""
    return _shared('hoga_parity') / 'hoga_vectors.pt'


@pytest.fixture(scope='module', autouse=True)
def one_torch_thread(request):
    """One torch thread for every test and module fixture of ``ONE_THREAD_FOLDERS``."""
    if Path(request.module.__file__).parent.name not in ONE_THREAD_FOLDERS:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=['compiled', 'reference'])
def ops_mode(request):
    """``'compiled'`` or ``'reference'``: the attention core's path for the whole test."""
    if request.param == 'compiled' and not compiled_ops_available('cpu'):
        pytest.skip('the compiled attention core is not built (an AUTOLA_WITH_OPS=0 build)')
    with forced_ops_mode(request.param):
        yield request.param
