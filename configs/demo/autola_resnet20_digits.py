# `make demo`: a short AutoLA search on the digits' training half-splits,
# the ResNet-20 supernet of configs/search on a CPU budget.
_base_ = '../search/autola_resnet20_cifar10.py'

data_root = 'work_dirs/demo/data'
train_dataloader = dict(
    batch_size=64, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root,
                 pipeline=[dict(type='PackInputs')]))
max_epochs = 2
param_scheduler = dict(weights=[dict(type='CosineAnnealingLR', T_max=max_epochs,
                                     eta_min=1e-4, by_epoch=True)])
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=5))
