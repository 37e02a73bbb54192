"""The unrolled (second-order) architecture gradient against independent references.

The reference is the function DARTS differentiates,
``F(a) = L_val(w - lr * (momentum * m + grad_w L_train(w, a) + wd * w), a)``,
evaluated with ``torch.func.functional_call`` on a tiny float64 supernet and
differentiated (1) exactly, through the virtual step with ``create_graph``, and
(2) by central finite differences along single ``alpha`` entries and random
directions.
"""
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from search_testkit import labelled_batch, tiny_search_model
from torch.func import functional_call

from autola_mm.engine import SearchOptimWrapperConstructor
from autola_mm.ops import forced_ops_mode
from autola_mm.models.search import VirtualStep, unrolled_architecture_grad

LR, MOMENTUM, WEIGHT_DECAY = 0.5, 0.9, 1e-2


def labels(batch):
    return torch.cat([s.gt_label for s in batch['data_samples']])


def loss_fn(model, batch):
    """The closure the unrolled gradient calls: the batch's loss at the current weights."""
    return lambda: F.cross_entropy(model.logits(batch['inputs']), labels(batch))


@pytest.fixture(scope='module')
def setup():
    """A float64 supernet, two batches and an SGD optimizer with momentum buffers."""
    torch.manual_seed(0)
    model = tiny_search_model(alpha_std=0.5).double().train()
    train = labelled_batch(6, 3, dtype=torch.float64)
    val = labelled_batch(6, 3, dtype=torch.float64)
    weights = model.parameter_groups()['weights']
    optimizer = torch.optim.SGD(weights, lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    for w in weights:
        optimizer.state[w]['momentum_buffer'] = 0.1 * torch.randn_like(w)
    buffers = {n: optimizer.state[p]['momentum_buffer']
               for n, p in model.named_parameters() if n != 'alpha'}
    return model, train, val, optimizer, buffers


def reference_objective(model, train, val, alpha, buffers, create_graph):
    """F(alpha), the weights held at their current values."""
    weights = {n: p.detach().requires_grad_() for n, p in model.named_parameters()
               if n != 'alpha'}

    def loss(values, batch):
        logits = functional_call(model, {**values, 'alpha': alpha}, (batch['inputs'], ))
        return F.cross_entropy(logits, labels(batch))

    grads = torch.autograd.grad(loss(weights, train), list(weights.values()),
                                create_graph=create_graph, allow_unused=True)
    stepped = {
        n: w - LR * (MOMENTUM * buffers[n] + (0 if g is None else g) + WEIGHT_DECAY * w)
        for (n, w), g in zip(weights.items(), grads)
    }
    return loss(stepped, val)


def exact_gradient(model, train, val, buffers):
    """d F / d alpha through the virtual step (second derivatives of the pure
    PyTorch reference ops: the compiled ops have no double backward)."""
    alpha = model.alpha.detach().clone().requires_grad_()
    with forced_ops_mode('reference'):
        objective = reference_objective(model, train, val, alpha, buffers, True)
        return torch.autograd.grad(objective, alpha)[0]


def directions(alpha: torch.Tensor):
    """Five alpha entries (one per node, plus a ``none`` column) and three random directions."""
    entries = [(0, 1), (2, 8), (5, 4), (9, 0), (7, 6)]
    for row, column in entries:
        direction = torch.zeros_like(alpha)
        direction[row, column] = 1.0
        yield direction
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        yield torch.randn(alpha.shape, generator=generator, dtype=alpha.dtype)


def finite_difference(model, train, val, buffers, direction, h=1e-6) -> float:
    """Central difference of F along ``direction``."""
    alpha = model.alpha.detach()
    plus = reference_objective(model, train, val, alpha + h * direction, buffers, False)
    minus = reference_objective(model, train, val, alpha - h * direction, buffers, False)
    return (plus - minus).item() / (2 * h)


def test_unrolled_gradient_matches_exact_and_finite_difference_references(setup):
    model, train, val, optimizer, buffers = setup
    weights = model.parameter_groups()['weights']
    before = [w.detach().clone() for w in weights]
    ours = unrolled_architecture_grad(model.alpha, weights, loss_fn(model, train),
                                      loss_fn(model, val), VirtualStep.of_sgd(optimizer, weights),
                                      radius=1e-5)
    # The weights are restored bitwise and no .grad was written.
    assert all(torch.equal(w, b) for w, b in zip(weights, before))
    assert model.alpha.grad is None and all(w.grad is None for w in weights)

    exact = exact_gradient(model, train, val, buffers)
    torch.testing.assert_close(ours, exact, rtol=1e-6, atol=1e-9)
    first_order, = torch.autograd.grad(loss_fn(model, val)(), model.alpha)
    for direction in directions(ours):
        finite = finite_difference(model, train, val, buffers, direction)
        assert (ours * direction).sum().item() == pytest.approx(finite, rel=1e-5, abs=1e-8)
    # The implicit (Hessian) term matters: the first-order gradient differs.
    assert (first_order - exact).abs().max() > 1e-2 * exact.abs().max()


def test_the_virtual_step_needs_plain_sgd():
    weights = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match='SGD weights optimizer; got Adam'):
        VirtualStep.of_sgd(torch.optim.Adam(weights), weights)
    for option in (dict(nesterov=True), dict(dampening=0.5), dict(maximize=True)):
        name, value = next(iter(option.items()))
        with pytest.raises(ValueError, match=rf'follows plain SGD momentum \(nesterov=False, '
                           rf'dampening=0, maximize=False\); the weights optimizer has '
                           rf'{name}={value}$'):
            VirtualStep.of_sgd(torch.optim.SGD(weights, lr=0.1, momentum=0.9, **option), weights)
    VirtualStep.of_sgd(torch.optim.SGD(weights, lr=0.1, momentum=0.9, dampening=0.0), weights)


def test_an_unrolled_train_step_moves_alpha_and_weights():
    torch.manual_seed(1)
    model = tiny_search_model(unrolled=True).train()
    optim_wrapper = SearchOptimWrapperConstructor(dict(
        architecture=dict(optimizer=dict(type='Adam', lr=3e-3, betas=(0.5, 0.999),
                                         weight_decay=1e-3)),
        weights=dict(optimizer=dict(type='SGD', lr=0.025, momentum=0.9, weight_decay=5e-4),
                     clip_grad=dict(max_norm=5))))(model)
    alpha = model.alpha.detach().clone()
    weights = [w.detach().clone() for w in model.parameter_groups()['weights']]
    data = dict(train=labelled_batch(4, 3), val=labelled_batch(4, 3))
    log_vars = model.train_step(data, optim_wrapper)
    assert set(log_vars) == {'loss', 'accuracy', 'loss_arch', 'accuracy_arch'}
    assert not torch.equal(model.alpha, alpha)
    assert any(not torch.equal(w, b) for w, b in zip(model.parameter_groups()['weights'],
                                                      weights))
    # Adam's first step moves an entry by at most lr, most of them by about lr.
    moved = (model.alpha - alpha).abs()
    assert moved.max() <= 3e-3 * 1.001
    assert (moved > 1e-3).float().mean() > 0.9


class LossScalingOptimWrapper(OptimWrapper):
    """Scales every loss by 2**10 and the gradients back in ``step``, as the loss
    scaler of an ``AmpOptimWrapper`` does (which needs a GPU)."""

    scale = 1024.0

    def backward(self, loss, **kwargs):
        super().backward(loss * self.scale, **kwargs)

    def step(self, **kwargs):
        for group in self.optimizer.param_groups:
            for param in group['params']:
                if param.grad is not None:
                    param.grad.div_(self.scale)
        super().step(**kwargs)


def test_the_unrolled_gradient_goes_through_a_loss_scaling_wrapper():
    # Set on alpha.grad directly, the gradient would be divided by the scale it was
    # never multiplied by: alpha would move 1024 times less.
    alphas = []
    for wrapper_type in (OptimWrapper, LossScalingOptimWrapper):
        torch.manual_seed(1)
        model = tiny_search_model(unrolled=True).train()
        optim_wrapper = SearchOptimWrapperConstructor(dict(
            architecture=dict(type=wrapper_type, optimizer=dict(type='SGD', lr=1.0)),
            weights=dict(optimizer=dict(type='SGD', lr=0.025, momentum=0.9))))(model)
        torch.manual_seed(2)
        model.train_step(dict(train=labelled_batch(4, 3), val=labelled_batch(4, 3)),
                         optim_wrapper)
        alphas.append(model.alpha.detach().clone())
    assert torch.equal(*alphas)
