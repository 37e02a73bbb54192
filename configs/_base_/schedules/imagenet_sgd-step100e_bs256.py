# ImageNet schedule of the AutoLA supplement: lr 0.1 divided by 10 every 30
# epochs, 100 epochs. Momentum 0.9 and weight decay 1e-4 are those of the
# ResNet recipe the supplement follows for augmentation (it gives neither).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)

train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# lr 0.1 goes with 256 images per step (8 GPUs x 32).
auto_scale_lr = dict(enable=False, base_batch_size=256)
