# Runtime of the AutoLA search: mmpretrain's data transforms, checkpoints every
# epoch (written atomically: complete or absent, even when the run is killed),
# the genotype and the alpha history written beside them.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['autola_mm'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
custom_hooks = [dict(type='GenotypeHook'), dict(type='AlphaHistoryHook')]

# The bi-level step needs its own DDP train_step (used with --launcher).
model_wrapper_cfg = dict(type='SearchDistributedDataParallel')

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
