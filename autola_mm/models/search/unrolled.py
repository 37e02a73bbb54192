"""The second-order ("unrolled") architecture gradient of DARTS, used by AutoLA.

Auto Learning Attention (Ma et al., NeurIPS 2020) searches HOGA with the
bi-level optimisation of DARTS (Liu et al., ICLR 2019). With ``w`` the
weights, ``L_t`` the training loss and ``L_v`` the validation loss, one
virtual SGD step ``w' = w - xi * (mu * m + grad_w L_t(w, a) + lambda * w)``
(learning rate ``xi``, momentum ``mu`` with buffer ``m``, weight decay
``lambda``: the weights optimizer's own step) gives the architecture gradient

    d L_v(w'(a), a) / d a = grad_a L_v(w', a) - H u,    u = xi * grad_w' L_v(w', a),

where ``H u = grad_a (grad_w L_t(w, a) . u)`` is estimated by central finite
differences: ``(grad_a L_t(w + r u, a) - grad_a L_t(w - r u, a)) / 2r`` with
``r = radius / |u|``, i.e. the weights move by ``radius`` (0.01 in DARTS).
"""
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence

import torch
from torch import Tensor, nn

LossFn = Callable[[], Tensor]
#: The SGD options whose step :class:`VirtualStep` takes: any other value of
#: them changes the step (Nesterov's look-ahead, a damped gradient in the
#: momentum buffer, an ascent) and is refused.
PLAIN_SGD = {'nesterov': False, 'dampening': 0, 'maximize': False}


@dataclass
class VirtualStep:
    """One SGD step of the weights, as their optimizer would take it.

    Args:
        lr (Sequence[float]): Learning rate of every weight.
        momentum (Sequence[float]): Momentum of every weight.
        weight_decay (Sequence[float]): Weight decay of every weight.
        momentum_buffers (Sequence[Tensor | None]): The optimizer's momentum
            buffer of every weight (None before its first step).
    """

    lr: Sequence[float]
    momentum: Sequence[float]
    weight_decay: Sequence[float]
    momentum_buffers: Sequence[Optional[Tensor]]

    @classmethod
    def of_sgd(cls, optimizer: torch.optim.Optimizer,
               weights: Sequence[nn.Parameter]) -> 'VirtualStep':
        """Read the hyper-parameters and momentum buffers of an SGD optimizer.

        Args:
            optimizer (torch.optim.Optimizer): The weights optimizer; must be
                :class:`torch.optim.SGD` with the options of :data:`PLAIN_SGD`.
            weights (Sequence[nn.Parameter]): Parameters it updates.

        Returns:
            VirtualStep: The step of ``weights``, in their order.
        """
        if not isinstance(optimizer, torch.optim.SGD):
            raise ValueError(f'the unrolled architecture gradient takes the virtual step of an '
                             f'SGD weights optimizer; got {type(optimizer).__name__}')
        group_of = {}
        for group in optimizer.param_groups:
            for option, plain in PLAIN_SGD.items():
                if group.get(option, plain) != plain:
                    raise ValueError(
                        f'the unrolled architecture gradient follows plain SGD momentum '
                        f'({", ".join(f"{k}={v!r}" for k, v in PLAIN_SGD.items())}); the '
                        f'weights optimizer has {option}={group[option]!r}')
            group_of.update({id(p): group for p in group['params']})
        missing = [i for i, w in enumerate(weights) if id(w) not in group_of]
        if missing:
            raise ValueError(f'weights {missing} are not updated by the weights optimizer')
        groups = [group_of[id(w)] for w in weights]
        return cls(lr=[g['lr'] for g in groups],
                   momentum=[g['momentum'] for g in groups],
                   weight_decay=[g['weight_decay'] for g in groups],
                   momentum_buffers=[optimizer.state.get(w, {}).get('momentum_buffer')
                                     for w in weights])

    def apply(self, weights: Sequence[Tensor], grads: Sequence[Tensor]) -> List[Tensor]:
        """The weights after the step.

        Args:
            weights (Sequence[Tensor]): Current weights.
            grads (Sequence[Tensor]): ``grad_w L_t`` of every weight.

        Returns:
            list[Tensor]: ``w - lr * (momentum * m + g + weight_decay * w)``.
        """
        stepped = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            direction = g + self.weight_decay[i] * w
            if self.momentum_buffers[i] is not None:
                direction = direction + self.momentum[i] * self.momentum_buffers[i]
            stepped.append(w - self.lr[i] * direction)
        return stepped


@contextmanager
def weights_set_to(weights: Sequence[nn.Parameter], values: Sequence[Tensor]) -> Iterator[None]:
    """Give ``weights`` the ``values`` inside the block, restore them after.

    Args:
        weights (Sequence[nn.Parameter]): Parameters to overwrite in place.
        values (Sequence[Tensor]): Their temporary values.
    """
    saved = [w.detach().clone() for w in weights]
    with torch.no_grad():
        for w, value in zip(weights, values):
            w.copy_(value)
    try:
        yield
    finally:
        with torch.no_grad():
            for w, value in zip(weights, saved):
                w.copy_(value)


def _grads(loss: Tensor, inputs: Sequence[Tensor]) -> List[Tensor]:
    """``d loss / d inputs``, zeros for inputs the loss does not depend on."""
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, grads)]


def unrolled_architecture_grad(alpha: nn.Parameter,
                               weights: Sequence[nn.Parameter],
                               train_loss: LossFn,
                               val_loss: LossFn,
                               step: VirtualStep,
                               radius: float = 1e-2) -> Tensor:
    """DARTS' second-order gradient of the validation loss with respect to ``alpha``.

    ``train_loss`` and ``val_loss`` compute their loss at the current values
    of ``alpha`` and ``weights`` (each call runs the model again). The weights
    are changed in place during the call and restored exactly before it
    returns; no ``.grad`` is written.

    Args:
        alpha (nn.Parameter): Architecture parameters.
        weights (Sequence[nn.Parameter]): Network weights.
        train_loss (Callable[[], Tensor]): Loss on a training batch.
        val_loss (Callable[[], Tensor]): Loss on a validation batch.
        step (VirtualStep): The virtual step of the weights.
        radius (float): How far the weights move (Euclidean norm) in the
            finite differences of the Hessian-vector product. Default: 0.01,
            as in DARTS.

    Returns:
        Tensor: ``grad_a L_v(w', a) - H u``, shaped like ``alpha``.
    """
    weights = list(weights)
    virtual = step.apply([w.detach() for w in weights], _grads(train_loss(), weights))
    with weights_set_to(weights, virtual):
        direct, *v = _grads(val_loss(), [alpha] + weights)
    # w' moves by -lr_i * grad_w_i L_t, so the product is taken along u = lr * v.
    u = [lr * g for lr, g in zip(step.lr, v)]
    norm = torch.sqrt(sum((g * g).sum() for g in u))
    if norm == 0:
        return direct
    r = radius / norm
    with weights_set_to(weights, [w.detach() + r * g for w, g in zip(weights, u)]):
        plus = _grads(train_loss(), [alpha])[0]
    with weights_set_to(weights, [w.detach() - r * g for w, g in zip(weights, u)]):
        minus = _grads(train_loss(), [alpha])[0]
    return direct - (plus - minus) / (2 * r)
