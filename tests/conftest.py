"""Shared fixtures: paths to the data in ``../shared`` beside the checkout."""
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / 'shared' / 'data'


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
