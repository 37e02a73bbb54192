"""Every config writes its checkpoints with ``AtomicCheckpointHook``.

A run killed while a checkpoint is written then loses that epoch only
(``tests/test_tools/test_checkpoint_kill.py``); the hook is set in the
runtime bases, so every training and search config must inherit it.
"""
import pytest
from config_index import ALL_CONFIGS, config_id
from mmengine.registry import HOOKS, init_default_scope


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=config_id)
def test_the_checkpoint_hook_is_atomic(load_config, path):
    assert load_config(path).default_hooks.checkpoint.type == 'AtomicCheckpointHook'


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmpose'])
def test_every_scope_builds_it(scope):
    import autola_mm  # noqa: F401
    from autola_mm.utils import AtomicCheckpointHook
    init_default_scope(scope)
    hook = HOOKS.build(dict(type='AtomicCheckpointHook', interval=2, max_keep_ckpts=3))
    assert isinstance(hook, AtomicCheckpointHook)
    assert (hook.interval, hook.max_keep_ckpts) == (2, 3)
