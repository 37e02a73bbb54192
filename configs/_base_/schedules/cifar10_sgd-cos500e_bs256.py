# CIFAR-10 schedule of the AutoLA supplement: SGD, lr 0.1, momentum 0.9,
# weight decay 5e-4, batch 256, 500 epochs. The supplement gives no decay
# rule; the authors' code anneals the rate with a cosine, per epoch, to 0.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(type='CosineAnnealingLR', T_max=500, by_epoch=True, begin=0, end=500)

train_cfg = dict(by_epoch=True, max_epochs=500, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# lr 0.1 goes with 256 images per step (4 GPUs x 64); --auto-scale-lr rescales
# it linearly for other totals.
auto_scale_lr = dict(enable=False, base_batch_size=256)
