# SSD300 schedule of the AutoLA supplement: 65 epochs, batch 128, SGD lr 0.01
# divided by 10 at epochs 43 and 54, momentum 0.9, weight decay 5e-4 except
# on biases and BatchNorm (0), and a linear warm-up over the first epoch
# (from 1/1000 of the rate, every iteration).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=65, milestones=[43, 54], gamma=0.1),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=65, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# lr 0.01 goes with 128 images per step (8 GPUs x 16).
auto_scale_lr = dict(enable=False, base_batch_size=128)
