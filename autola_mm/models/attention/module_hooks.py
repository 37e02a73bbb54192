"""Whether modules have hooks of their own, which a fused operator standing in for them skips."""
from torch import nn


def has_hooks(*modules: nn.Module) -> bool:
    """Whether any of ``modules`` has forward or backward hooks of its own."""
    return any(
        module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
        or module._backward_pre_hooks for module in modules)
