# Faster R-CNN + FPN schedule of the AutoLA supplement: 14 epochs, SGD lr 0.01
# divided by 10 at epochs 8 and 11, momentum 0.9, weight decay 1e-4, linear
# warm-up over the first 500 iterations (from 1/1000 of the rate).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=14, milestones=[8, 11], gamma=0.1),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=14, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# The supplement's "batch size 2" is per GPU, as in MMDetection's configs it
# follows: with MMDetection's linear rule (lr 0.02 for 16 images) lr 0.01 goes
# with 8 images per step, 4 GPUs x 2.
auto_scale_lr = dict(enable=False, base_batch_size=8)
