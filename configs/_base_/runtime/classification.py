# MMPretrain's runtime (hooks, visualizer, environment) with the AutoLA modules
# registered. Checkpoints: one per epoch, the last 3 kept, plus the best; each
# written atomically (complete or absent, even when the run is killed).
_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['autola_mm'], allow_failed_imports=False)
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', max_keep_ckpts=3, save_best='auto'))
