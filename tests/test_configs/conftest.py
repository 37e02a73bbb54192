"""Fixtures of the config tests: merged configs and their models."""
from pathlib import Path

import pytest
from config_index import without_pretrained
from mmengine.config import Config, ConfigDict


@pytest.fixture(scope='session')
def load_config():
    """``load_config(path)``: the merged config of a file (cached)."""
    cache = {}

    def load(path) -> Config:
        path = Path(path)
        if path not in cache:
            cache[path] = Config.fromfile(str(path))
        return cache[path]

    return load


@pytest.fixture(scope='session')
def build_model():
    """``build_model(cfg)``: the config's model as the Runner builds it, with
    no pretrained weights (nothing is downloaded)."""
    import autola_mm  # noqa: F401
    from mmengine.registry import MODELS, init_default_scope

    def build(cfg: Config):
        init_default_scope(cfg.default_scope)
        model_cfg = without_pretrained(cfg.model.to_dict())
        if cfg.get('data_preprocessor') is not None:
            model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor.to_dict())
        return MODELS.build(ConfigDict(model_cfg))

    return build
