"""The search model: one shared alpha, two optimizers, and the order of the bi-level step."""
import copy

import pytest
import torch
import torch.nn.functional as F
from search_testkit import TinySupernet, labelled_batch, tiny_search_model
from torch import nn

from autola_mm.engine import SearchOptimWrapperConstructor
from autola_mm.models.attention import PRIMITIVES
from autola_mm.models.search import HOGASearchClassifier, SearchHOGA
from autola_mm.ops import forced_ops_mode

ARCH = dict(optimizer=dict(type='Adam', lr=3e-3, betas=(0.5, 0.999), weight_decay=1e-3))
WEIGHTS = dict(optimizer=dict(type='SGD', lr=0.025, momentum=0.9, weight_decay=5e-4),
               clip_grad=dict(max_norm=5))


def build_optim_wrapper(model):
    return SearchOptimWrapperConstructor(dict(architecture=ARCH, weights=WEIGHTS))(model)


def test_one_alpha_is_shared_by_every_cell():
    torch.manual_seed(0)
    backbone = TinySupernet(8, num_cells=2, kernel_size=1)
    model = HOGASearchClassifier(backbone, num_classes=2, in_channels=8)
    assert model.alpha.shape == (10, len(PRIMITIVES))
    assert len(model.cells) == 2
    assert [n for n, _ in model.named_parameters()].count('alpha') == 1
    assert not any('alpha' in n for n, _ in backbone.named_parameters())
    # Both cells follow alpha: a change of alpha changes the whole network.
    x = torch.randn(2, 3, 5, 5)
    before = model(x)
    with torch.no_grad():
        model.alpha[:, PRIMITIVES.index('none')] = 20.0
    assert not torch.allclose(model(x), before)


def test_alpha_starts_small_and_random():
    torch.manual_seed(0)
    alpha = tiny_search_model().alpha.detach()
    assert 0.5e-3 < alpha.std() < 1.5e-3 and alpha.abs().max() < 6e-3


def test_parameter_groups_split_alpha_from_the_weights():
    model = tiny_search_model()
    groups = model.parameter_groups()
    assert groups['architecture'] == [model.alpha]
    assert len(groups['weights']) == len(list(model.parameters())) - 1
    assert all(p is not model.alpha for p in groups['weights'])
    optim_wrapper = build_optim_wrapper(model)
    assert sorted(optim_wrapper.keys()) == ['architecture', 'weights']
    assert optim_wrapper['architecture'].optimizer.param_groups[0]['params'] == [model.alpha]


def test_the_first_order_step_is_an_architecture_step_then_a_weight_step():
    """Recompute the step by hand: Adam on grad_alpha L_val at the old weights,
    then clipped SGD on grad_w L_train at the new alpha."""
    torch.manual_seed(0)
    model = tiny_search_model(num_classes=3).train()
    reference = copy.deepcopy(model)
    data = dict(train=labelled_batch(4, 3), val=labelled_batch(4, 3))
    log_vars = model.train_step(data, build_optim_wrapper(model))

    labels = {k: torch.cat([s.gt_label for s in b['data_samples']]) for k, b in data.items()}
    adam = torch.optim.Adam([reference.alpha], lr=3e-3, betas=(0.5, 0.999), weight_decay=1e-3)
    weights = reference.parameter_groups()['weights']
    sgd = torch.optim.SGD(weights, lr=0.025, momentum=0.9, weight_decay=5e-4)
    val_loss = F.cross_entropy(reference.logits(data['val']['inputs']), labels['val'])
    reference.alpha.grad, = torch.autograd.grad(val_loss, reference.alpha)
    adam.step()
    train_loss = F.cross_entropy(reference.logits(data['train']['inputs']), labels['train'])
    train_loss.backward(inputs=weights)
    torch.nn.utils.clip_grad_norm_(weights, 5)
    sgd.step()

    torch.testing.assert_close(model.alpha, reference.alpha, rtol=0, atol=1e-7)
    for ours, theirs in zip(model.parameter_groups()['weights'], weights):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)
    assert log_vars['loss'].item() == pytest.approx(train_loss.item(), rel=1e-5)
    assert log_vars['loss_arch'].item() == pytest.approx(val_loss.item(), rel=1e-5)
    assert all(p.grad is None for p in model.parameters())


def test_the_architecture_step_leaves_every_requires_grad_flag_as_it_was():
    # The first-order architecture forward runs with the weights not requiring
    # grad; afterwards every flag is back, a frozen weight's too.
    torch.manual_seed(0)
    model = tiny_search_model(num_classes=3).train()
    frozen = next(p for p in model.parameters() if p is not model.alpha)
    frozen.requires_grad_(False)
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    optim_wrapper = build_optim_wrapper(model)
    model.train_step(dict(train=labelled_batch(4, 3), val=labelled_batch(4, 3)), optim_wrapper)
    assert {name: p.requires_grad for name, p in model.named_parameters()} == flags
    assert all(p is not frozen for p in model.parameter_groups()['weights'])


def test_an_error_in_the_architecture_forward_restores_the_flags(monkeypatch):
    torch.manual_seed(0)
    model = tiny_search_model(num_classes=3).train()
    seen = []

    def failing_logits(*args, **kwargs):
        seen.append(any(p.requires_grad for p in model.parameters() if p is not model.alpha))
        raise RuntimeError('forward failed')

    monkeypatch.setattr(model, 'logits', failing_logits)
    with pytest.raises(RuntimeError, match='forward failed'):
        model.train_step(dict(train=labelled_batch(4, 3), val=labelled_batch(4, 3)),
                         build_optim_wrapper(model))
    assert seen == [False]  # inside, no weight required grad
    assert all(p.requires_grad for p in model.parameters())


def test_forward_modes():
    torch.manual_seed(0)
    model = tiny_search_model(num_classes=3).eval()
    batch = labelled_batch(4, 3)
    logits = model(batch['inputs'])
    assert logits.shape == (4, 3)
    loss = model(batch['inputs'], batch['data_samples'], mode='loss')['loss']
    labels = torch.cat([s.gt_label for s in batch['data_samples']])
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels))
    samples = model(batch['inputs'], batch['data_samples'], mode='predict')
    torch.testing.assert_close(torch.stack([s.pred_score for s in samples]), logits.softmax(1))
    assert [s.pred_label.item() for s in samples] == logits.argmax(1).tolist()
    with pytest.raises(ValueError, match="mode='features'"):
        model(batch['inputs'], mode='features')


def test_a_backbone_without_search_cells_is_refused():
    with pytest.raises(ValueError, match='no SearchHOGA'):
        HOGASearchClassifier(nn.Conv2d(3, 8, 1), num_classes=2, in_channels=8)
    backbone = nn.Sequential(SearchHOGA(8), SearchHOGA(6, groups=3))
    with pytest.raises(ValueError, match=r'cells have \[6, 10\] edges'):
        HOGASearchClassifier(backbone, num_classes=2, in_channels=8)
    with pytest.raises(ValueError, match='pass in_channels'):
        HOGASearchClassifier(nn.Sequential(SearchHOGA(8)), num_classes=2)
    with pytest.raises(ValueError, match=r'Sequential.forward takes no mixing weights'):
        HOGASearchClassifier(nn.Sequential(SearchHOGA(8)), num_classes=2, in_channels=8)


@pytest.mark.parametrize('unrolled', [False, True])
def test_a_checkpointed_supernet_takes_the_same_search_step(unrolled):
    """with_cp=True recomputes every block in backward, the cells with the
    mixing weights they were handed: alpha and the weights move as without it.

    On the reference ops: the compiled SE and CBAM backward passes call
    ``autograd.grad`` on their logit networks, and every such call makes a
    non-reentrant checkpoint recompute the whole block (same numbers, tens
    of times slower).
    """
    models = []
    for with_cp in (False, True):
        torch.manual_seed(0)
        backbone = dict(type='PluginCifarResNet', stage_blocks=(1, ), base_channels=8,
                        with_cp=with_cp,
                        plugins=[dict(cfg=dict(type='SearchHOGA'), position='after_conv2')])
        models.append(HOGASearchClassifier(backbone, num_classes=3, unrolled=unrolled).train())
    data = dict(train=labelled_batch(4, 3, size=4), val=labelled_batch(4, 3, size=4))
    alpha = models[0].alpha.detach().clone()
    with forced_ops_mode('reference'):
        for model in models:
            model.train_step(data, build_optim_wrapper(model))
    plain, checkpointed = models
    assert all(block.with_cp for block in checkpointed.backbone.blocks())
    assert (plain.alpha - alpha).abs().max() > 1e-3
    torch.testing.assert_close(checkpointed.alpha, plain.alpha, rtol=0, atol=1e-7)
    for ours, theirs in zip(checkpointed.parameters(), plain.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)


def test_an_alpha_of_the_wrong_shape_is_refused_on_load():
    model = tiny_search_model()
    state = model.state_dict()
    state['alpha'] = torch.zeros(6, len(PRIMITIVES))
    with pytest.raises(ValueError, match=r'alpha of shape \(6, 9\).*expected \(10, 9\)'):
        model.load_state_dict(state, strict=False)


def test_a_search_step_needs_both_batches_and_both_optimizers():
    model = tiny_search_model(num_classes=3)
    optim_wrapper = build_optim_wrapper(model)
    with pytest.raises(ValueError, match=r"dict\(train=batch, val=batch\); got \['train'\]"):
        model.train_step(dict(train=labelled_batch(2, 3)), optim_wrapper)
    data = dict(train=labelled_batch(2, 3), val=labelled_batch(2, 3))
    from mmengine.optim import OptimWrapperDict
    with pytest.raises(KeyError, match="lacks \\['architecture'\\]"):
        model.train_step(data, OptimWrapperDict(weights=optim_wrapper['weights']))


def test_the_optimizer_constructor_checks_its_entries():
    model = tiny_search_model()
    with pytest.raises(KeyError, match=r"needs exactly \['architecture', 'weights'\]"):
        SearchOptimWrapperConstructor(dict(weights=WEIGHTS))(model)
    with pytest.raises(KeyError, match='optim_wrapper.architecture has no optimizer'):
        SearchOptimWrapperConstructor(dict(architecture=dict(), weights=WEIGHTS))(model)
    with pytest.raises(TypeError, match='no parameter_groups'):
        SearchOptimWrapperConstructor(dict(architecture=ARCH, weights=WEIGHTS))(nn.Linear(2, 2))
    with pytest.raises(ValueError, match='paramwise_cfg'):
        SearchOptimWrapperConstructor(dict(architecture=ARCH, weights=WEIGHTS),
                                      paramwise_cfg=dict(norm_decay_mult=0))
