# The bi-level schedule of the AutoLA search (method spec, section 2).
optim_wrapper = dict(
    constructor='SearchOptimWrapperConstructor',
    architecture=dict(
        optimizer=dict(type='Adam', lr=3e-3, betas=(0.5, 0.999), weight_decay=1e-3)),
    weights=dict(
        optimizer=dict(type='SGD', lr=0.025, momentum=0.9, weight_decay=5e-4),
        clip_grad=dict(max_norm=5)))

# Cosine from 0.025 to 1e-4 over the search, for the weights only.
param_scheduler = dict(
    architecture=[],
    weights=[dict(type='CosineAnnealingLR', T_max=50, eta_min=1e-4, by_epoch=True)])

train_cfg = dict(type='AutoLASearchLoop', max_epochs=50, train_portion=0.5, split_seed=0)
