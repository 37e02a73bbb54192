"""docs/search.md: the configs it tells a user to write do what it says.

Every ``python`` block of the guide whose first line names a file under
``configs/`` is written there in a copy of ``configs/`` (inside a temporary
working directory, as a user's checkout would be), then built; the search
config also searches (one epoch, a smaller supernet) on ten synthetic images
in the layout it describes.
"""
import re
import shutil

import numpy as np
import pytest
from config_index import CONFIG_ROOT, REPO_ROOT
from mmengine.config import Config
from PIL import Image
from tool_loading import load_tool

from autola_mm.models.attention import DEFAULT_GENOTYPE, HOGA, Genotype

GUIDE = REPO_ROOT / 'docs' / 'search.md'
SEARCH_CONFIG = 'configs/search/autola_resnet20_my_data.py'
DETECTOR_CONFIG = 'configs/faster_rcnn/faster-rcnn_r50-hoga-my-search_fpn_4xb2-14e_coco.py'
SEARCHED = Genotype.parse('skip_connect:0 | SE:0 skip_connect:1 | CBAM:0 skip_connect:1 '
                          'SE:2 | sep_conv_3x3:0 skip_connect:1 SE:2 skip_connect:3')


def guide_configs() -> dict:
    """``configs/...`` path to the text of each config block of the guide."""
    blocks = re.findall(r'```python\n(# (configs/\S+\.py)[^\n]*\n.*?)```', GUIDE.read_text(),
                        re.DOTALL)
    return {path: text for text, path in blocks}


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A working directory with configs/ and the guide's configs written into it."""
    shutil.copytree(CONFIG_ROOT, tmp_path / 'configs')
    for path, text in guide_configs().items():
        (tmp_path / path).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_guide_has_both_configs():
    assert sorted(guide_configs()) == sorted([DETECTOR_CONFIG, SEARCH_CONFIG])


def test_the_search_config_searches_on_image_folders(checkout, build_model):
    cfg = Config.fromfile(SEARCH_CONFIG)
    model = build_model(cfg)
    assert type(model).__name__ == 'HOGASearchClassifier'
    assert (model.fc.out_features, len(model.cells)) == (5, 9)  # ResNet-20: 9 blocks
    assert cfg.param_scheduler.weights[0].T_max == cfg.train_cfg.max_epochs == 50

    rng = np.random.default_rng(0)
    for label in range(5):  # data/my_images/train/<class>/<image>, 2 images a class
        folder = checkout / 'data/my_images/train' / f'class{label}'
        folder.mkdir(parents=True)
        for index in range(2):
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(
                folder / f'{index}.png')
    # One epoch of one step on each half, with ResNet-8 (3 cells) to keep it short.
    runner = load_tool('search').main([SEARCH_CONFIG, '--cfg-options', 'train_cfg.max_epochs=1',
                                       'train_dataloader.batch_size=5', 'model.backbone.depth=8'])
    assert runner.work_dir == str(checkout / 'work_dirs/autola_resnet20_my_data')
    assert Genotype.from_json(checkout / 'work_dirs/autola_resnet20_my_data/genotype.json')


def test_the_detector_reads_the_searched_genotype(checkout, build_model):
    SEARCHED.to_json(checkout / 'work_dirs/autola_resnet20_my_data/genotype.json')
    model = build_model(Config.fromfile(DETECTOR_CONFIG))
    hogas = [module for module in model.modules() if isinstance(module, HOGA)]
    assert len(hogas) == 16  # every bottleneck of ResNet-50
    assert SEARCHED != DEFAULT_GENOTYPE
    assert all(hoga.genotype == SEARCHED for hoga in hogas)
