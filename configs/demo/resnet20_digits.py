# `make demo`: ResNet-20 without attention on scikit-learn's handwritten
# digits, converted to the CIFAR-10 format (32x32, 1,437 train / 360 test) by
# tools/dataset_converters/digits_to_cifar.py. The CIFAR-10 recipe on a CPU
# budget: 8 cosine epochs, batch 64, no flips (digits are not symmetric).
_base_ = '../autola_cifar/resnet20_4xb64-cos500e_cifar10.py'

data_root = 'work_dirs/demo/data'
digits = dict(
    type='LocalCIFAR10',
    data_root=data_root,
    metainfo=dict(classes=tuple(str(digit) for digit in range(10))),
    _delete_=True)
train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=64, num_workers=0, persistent_workers=False,
    dataset=dict(**digits, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=120, num_workers=0, persistent_workers=False,
    dataset=dict(**digits, split='test', pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 8
param_scheduler = dict(T_max=max_epochs, end=max_epochs)
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=max_epochs))
randomness = dict(seed=0, deterministic=False)
