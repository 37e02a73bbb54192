"""The configs train on the supplement's schedules (autola-method.md, section 3).

Numbers are checked on what the Runner builds from each config: the optimizer's
parameter groups and the learning rate at every iteration, simulated the way
mmengine's ParamSchedulerHook steps the schedulers.
"""
import math

import pytest
import torch
from config_index import CONFIG_ROOT
from torch.nn.modules.batchnorm import _BatchNorm

SSD = CONFIG_ROOT / 'ssd/ssd300_r50-hoga_8xb16-65e_coco.py'
FASTER_RCNN = CONFIG_ROOT / 'faster_rcnn_r50_fpn_hoga_1x.py'
SIMPLEBASELINE = CONFIG_ROOT / 'simplebaseline/simplebaseline_r50-hoga_4xb32-140e_coco-256x192.py'
CIFAR10 = CONFIG_ROOT / 'autola_cifar/resnet56-hoga_4xb64-cos500e_cifar10.py'
CIFAR100 = CONFIG_ROOT / 'autola_cifar/resnet20-w64-hoga_4xb32-cos500e_cifar100.py'
IMAGENET = CONFIG_ROOT / 'autola_imagenet/resnet50-hoga_8xb32-step100e_in1k.py'


def build_optimizer(cfg, model):
    from mmengine.optim import build_optim_wrapper
    return build_optim_wrapper(model, cfg.optim_wrapper.to_dict())


def lr_per_iteration(cfg, optim_wrapper, epoch_length: int, epochs: int):
    """The learning rate used at each iteration of the first ``epochs`` epochs.

    Schedulers are built as the Runner builds them and stepped as mmengine's
    ParamSchedulerHook steps them: iteration-based ones after every
    iteration, epoch-based ones after every epoch.
    """
    from mmengine.registry import PARAM_SCHEDULERS
    configs = cfg.param_scheduler
    configs = configs if isinstance(configs, list) else [configs]
    schedulers = [
        PARAM_SCHEDULERS.build(c.to_dict(), default_args=dict(optimizer=optim_wrapper,
                                                               epoch_length=epoch_length))
        for c in configs
    ]
    rates = []
    for _ in range(epochs):
        for _ in range(epoch_length):
            rates.append(optim_wrapper.get_lr()['lr'][0])
            for scheduler in schedulers:
                if not scheduler.by_epoch:
                    scheduler.step()
        for scheduler in schedulers:
            if scheduler.by_epoch:
                scheduler.step()
    return rates


def assert_linear(rates):
    """``rates`` grow by the same step from one iteration to the next."""
    steps = [b - a for a, b in zip(rates, rates[1:])]
    assert steps[0] > 0 and steps == pytest.approx([steps[0]] * len(steps))


def decay_by_parameter(model, optim_wrapper):
    """Weight decay of every trainable parameter, by name."""
    decay_of = {}
    for group in optim_wrapper.optimizer.param_groups:
        for param in group['params']:
            decay_of[id(param)] = group['weight_decay']
    return {name: decay_of[id(p)] for name, p in model.named_parameters() if p.requires_grad}


def norm_parameter_names(model):
    return {f'{module_name}.{name}' if module_name else name
            for module_name, module in model.named_modules() if isinstance(module, _BatchNorm)
            for name, _ in module.named_parameters(recurse=False)}


def total_batch(cfg):
    """Per-GPU batch and the number of GPUs ``auto_scale_lr`` implies."""
    per_gpu = cfg.train_dataloader.batch_size
    total = cfg.auto_scale_lr.base_batch_size
    assert total % per_gpu == 0
    return per_gpu, total // per_gpu


def test_ssd300(load_config, build_model):
    cfg = load_config(SSD)
    # Modified ResNet-50: conv5_x removed, conv4_x at stride 1, 300x300 input.
    backbone = cfg.model.backbone
    assert (backbone.depth, backbone.num_stages, tuple(backbone.strides)) == (50, 3, (1, 2, 1))
    resize = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'Resize']
    assert [tuple(t.scale) for t in resize] == [(300, 300)]
    assert cfg.train_cfg.max_epochs == 65
    assert total_batch(cfg) == (16, 8)  # 128 images per step
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum) == ('SGD', 0.01, 0.9)

    model = build_model(cfg)
    # BN after every convolution SSD adds (the extra levels).
    neck_convs = [m for m in model.neck.modules() if isinstance(m, torch.nn.Conv2d)]
    neck_norms = [m for m in model.neck.modules() if isinstance(m, _BatchNorm)]
    assert len(neck_convs) == len(neck_norms) == 10
    # Output stride 8 (38x38 maps for 300x300 images): conv4_x does not downsample.
    with torch.no_grad():
        assert model.backbone(torch.zeros(1, 3, 64, 64))[-1].shape[1:] == (1024, 8, 8)

    # Weight decay 5e-4, but 0 on every bias and every BN parameter.
    optim_wrapper = build_optimizer(cfg, model)
    decay = decay_by_parameter(model, optim_wrapper)
    norms = norm_parameter_names(model)
    assert norms and any(name.startswith('backbone.layer1.0.hoga') for name in norms)
    for name, value in decay.items():
        free = name in norms or name.endswith('.bias')
        assert value == (0 if free else 5e-4), name

    # Linear warm-up over the first epoch, then /10 at epochs 43 and 54.
    epoch_length = 10
    rates = lr_per_iteration(cfg, optim_wrapper, epoch_length, 65)
    assert rates[0] == pytest.approx(0.01 * 0.001)
    assert_linear(rates[:epoch_length])
    assert rates[epoch_length - 1] == rates[epoch_length] == pytest.approx(0.01)
    epoch_rates = rates[epoch_length::epoch_length]  # epochs 1..64
    assert epoch_rates[42 - 1] == pytest.approx(0.01)
    assert epoch_rates[43 - 1] == pytest.approx(0.001)
    assert epoch_rates[54 - 1] == pytest.approx(1e-4)
    assert epoch_rates[-1] == pytest.approx(1e-4)


def test_faster_rcnn_fpn(load_config, build_model):
    cfg = load_config(FASTER_RCNN)
    assert cfg.model.type == 'FasterRCNN' and cfg.model.neck.type == 'FPN'
    assert cfg.model.backbone.depth == 50
    assert cfg.train_cfg.max_epochs == 14
    assert total_batch(cfg) == (2, 4)  # 2 images per GPU
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum) == ('SGD', 0.01, 0.9)

    model = build_model(cfg)
    optim_wrapper = build_optimizer(cfg, model)
    assert set(decay_by_parameter(model, optim_wrapper).values()) == {1e-4}

    # 500 warm-up iterations, then /10 at epochs 8 and 11 (1000 iterations an epoch).
    epoch_length = 1000
    rates = lr_per_iteration(cfg, optim_wrapper, epoch_length, 14)
    assert rates[0] == pytest.approx(1e-5)
    assert_linear(rates[:500])
    assert rates[499] == rates[500] == rates[7999] == pytest.approx(0.01)
    assert rates[8000] == rates[10999] == pytest.approx(0.001)
    assert rates[11000] == rates[-1] == pytest.approx(1e-4)


def test_simplebaseline_dark(load_config, build_model):
    cfg = load_config(SIMPLEBASELINE)
    assert cfg.model.backbone.depth == 50
    # Distribution-aware sub-pixel decoding on 256x192 crops.
    for codec in (cfg.model.head.decoder, cfg.train_dataloader.dataset.pipeline[-2].encoder):
        assert codec.type == 'MSRAHeatmap' and codec.unbiased is True
        assert codec.blur_kernel_size == 11
        assert (tuple(codec.input_size), tuple(codec.heatmap_size)) == ((192, 256), (48, 64))
    assert cfg.train_cfg.max_epochs == 140
    assert total_batch(cfg) == (32, 4)  # 128 crops per step
    assert cfg.optim_wrapper.optimizer.to_dict() == dict(type='Adam', lr=1e-3)

    model = build_model(cfg)
    optim_wrapper = build_optimizer(cfg, model)
    assert type(optim_wrapper.optimizer) is torch.optim.Adam
    assert set(decay_by_parameter(model, optim_wrapper).values()) == {0}
    rates = lr_per_iteration(cfg, optim_wrapper, 1, 140)  # no warm-up
    assert rates[:90] == [pytest.approx(1e-3)] * 90
    assert rates[90:120] == [pytest.approx(1e-4)] * 30
    assert rates[120:] == [pytest.approx(1e-5)] * 20


@pytest.mark.parametrize('path,per_gpu,gpus', [(CIFAR10, 64, 4), (CIFAR100, 32, 4)])
def test_cifar(load_config, build_model, path, per_gpu, gpus):
    cfg = load_config(path)
    assert cfg.train_cfg.max_epochs == 500
    assert total_batch(cfg) == (per_gpu, gpus)
    assert cfg.train_dataloader.dataset.download is False
    model = build_model(cfg)
    optim_wrapper = build_optimizer(cfg, model)
    assert type(optim_wrapper.optimizer) is torch.optim.SGD
    assert optim_wrapper.optimizer.defaults['momentum'] == 0.9
    assert set(decay_by_parameter(model, optim_wrapper).values()) == {5e-4}
    rates = lr_per_iteration(cfg, optim_wrapper, 1, 500)
    expected = [0.05 * (1 + math.cos(math.pi * epoch / 500)) for epoch in range(500)]
    assert rates == pytest.approx(expected)


def test_imagenet(load_config, build_model):
    cfg = load_config(IMAGENET)
    assert cfg.train_cfg.max_epochs == 100
    assert total_batch(cfg) == (32, 8)
    crops = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'RandomResizedCrop']
    assert [t.scale for t in crops] == [224]
    model = build_model(cfg)
    optim_wrapper = build_optimizer(cfg, model)
    assert optim_wrapper.optimizer.defaults['momentum'] == 0.9
    rates = lr_per_iteration(cfg, optim_wrapper, 1, 100)
    assert rates == pytest.approx([0.1 * 0.1**(epoch // 30) for epoch in range(100)])
