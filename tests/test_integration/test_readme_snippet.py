"""The README's config snippet, pasted into a config, builds the model of the
shipped HOGA configs: in mmdet's own Faster R-CNN config and in our CIFAR
ResNet-20 config alike."""
import re
from pathlib import Path

import pytest

from autola_mm.analysis.complexity import count_parameters

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_ROOT = REPO_ROOT / 'configs'


def readme_snippet() -> str:
    """The python block of the README's "Use it in your mm configs" section."""
    readme = (REPO_ROOT / 'README.md').read_text()
    section = readme.split('## Use it in your mm configs', 1)[1].split('\n## ', 1)[0]
    return re.search(r'```python\n(.*?)```', section, re.DOTALL).group(1)


def with_snippet(base: Path, folder: Path) -> str:
    """A config that inherits ``base`` and adds the README's snippet."""
    path = folder / f'{base.stem}_readme.py'
    path.write_text(f'_base_ = {str(base)!r}\n{readme_snippet()}')
    return str(path)


@pytest.mark.parametrize('base,shipped', [
    (('mmdet', 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'),
     'faster_rcnn/faster-rcnn_r50-hoga_fpn_4xb2-14e_coco.py'),
    ('autola_cifar/resnet20_4xb64-cos500e_cifar10.py',
     'autola_cifar/resnet20-hoga_4xb64-cos500e_cifar10.py'),
])
def test_the_snippet_builds_the_shipped_hoga_model(base, shipped, mm_config_path, tmp_path):
    base = mm_config_path(*base) if isinstance(base, tuple) else CONFIG_ROOT / base
    assert count_parameters(with_snippet(base, tmp_path)) == count_parameters(
        str(CONFIG_ROOT / shipped))
