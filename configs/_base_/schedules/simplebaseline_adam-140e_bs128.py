# SimpleBaseline schedule of the AutoLA supplement: Adam, lr 1e-3 divided by
# 10 at epochs 90 and 120, 140 epochs, batch 128; no warm-up, no weight decay.
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, begin=0, end=140, milestones=[90, 120], gamma=0.1)

train_cfg = dict(by_epoch=True, max_epochs=140, val_interval=10)
val_cfg = dict()
test_cfg = dict()

# lr 1e-3 goes with 128 crops per step (4 GPUs x 32).
auto_scale_lr = dict(enable=False, base_batch_size=128)
