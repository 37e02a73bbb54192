# CIFAR-10 training set for the AutoLA search: the search loop splits it into
# two fixed halves (weights / architecture); both use this pipeline.
dataset_type = 'LocalCIFAR10'
data_root = 'data/cifar10'

search_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

# Not persistent: the search loop starts the workers anew every epoch, seeded
# from the epoch, so that a resumed search draws the same augmentations.
train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=search_pipeline))
