"""Shared pieces of the OpenMMLab integration tests of AutoLA's plugins."""
from pathlib import Path

import pytest
import torch
from mmengine.registry import MODELS

import autola_mm  # noqa: F401  (registers SE, CBAM, HOGA and the plugin backbones)


@pytest.fixture(scope='session')
def mm_config_path():
    """``mm_config_path(library, relative)``: a config shipped inside an installed
    OpenMMLab package (``<package>/.mim/configs/<relative>``)."""

    def find(library: str, relative: str) -> Path:
        package = __import__(library)
        path = Path(package.__file__).parent / '.mim' / 'configs' / relative
        assert path.is_file(), f'{library} ships no {relative}'
        return path

    return find


@pytest.fixture(scope='session')
def check_plugin_gradients():
    """``check(backbone, plugin_type, count)``: the backbone holds ``count``
    plugins of ``plugin_type``; after ``backward`` every parameter of every
    plugin has a gradient, and each plugin has a nonzero one."""

    def check(backbone: torch.nn.Module, plugin_type: str, count: int) -> None:
        plugin_class = MODELS.get(plugin_type)
        plugins = [m for m in backbone.modules() if type(m) is plugin_class]
        assert len(plugins) == count
        for plugin in plugins:
            grads = [p.grad for p in plugin.parameters()]
            assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
            assert any(g.abs().sum() > 0 for g in grads)

    return check


def loss_and_backward(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """One training step without the optimizer: preprocess, loss, backward.

    Args:
        model (BaseModel): An OpenMMLab model in train mode.
        batch (dict): A collated batch (``inputs`` and ``data_samples``).

    Returns:
        Tensor: The total loss (a scalar).
    """
    data = model.data_preprocessor(batch, True)
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    loss.backward()
    return loss


@pytest.fixture(scope='session')
def train_step():
    """``train_step(model, batch)``: see :func:`loss_and_backward`."""
    return loss_and_backward
