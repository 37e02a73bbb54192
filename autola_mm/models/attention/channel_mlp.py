"""The two-layer channel MLP of SE (Hu et al., CVPR 2018) and CBAM (Woo et al., ECCV 2018).

Both modules squeeze a pooled descriptor of ``C`` channels to a hidden width,
apply ReLU and expand back to ``C`` channel logits. The hidden width follows
the AutoLA authors' rule, ``floor(C * rd_ratio)``, which is 0 for small ``C``:
a zero-width MLP outputs zero logits, that is a constant 0.5 gate.
"""
import math
import warnings
from fractions import Fraction
from typing import Optional

from mmcv.cnn import build_activation_layer

from torch import Tensor, nn

from ...ops import ops_for
from .layer_configs import DEFAULT_ACT_CFG, ConfigType
from .module_hooks import has_hooks


def reduced_channels(channels: int,
                     rd_ratio: float,
                     rd_channels: Optional[int] = None,
                     min_rd_channels: int = 0) -> int:
    """Hidden width of a channel MLP.

    Args:
        channels (int): Width ``C`` of the pooled descriptor.
        rd_ratio (float): Reduction as a fraction, e.g. ``1 / 8`` for r = 8.
            It is read as the nearest fraction with a small denominator, so
            ``1 / 3`` of 9 channels is 3 (exact floor), not 2.
        rd_channels (int, optional): Explicit hidden width; overrides
            ``rd_ratio`` and ``min_rd_channels``.
        min_rd_channels (int): Lower bound of the width computed from
            ``rd_ratio``. 0 (the default) keeps the authors' ``floor(C / r)``.

    Returns:
        int: ``rd_channels`` if given, else
        ``max(floor(channels * rd_ratio), min_rd_channels)``.
    """
    if not _is_count(channels) or channels == 0:
        raise ValueError(f'channels={channels!r}: expected a positive int')
    if rd_channels is not None:
        if not _is_count(rd_channels):
            raise ValueError(f'rd_channels={rd_channels!r}: expected an int >= 0 or None')
        return rd_channels
    if isinstance(rd_ratio, bool) or not isinstance(rd_ratio, (int, float)) \
            or not 0 < rd_ratio <= 1:
        raise ValueError(f'rd_ratio={rd_ratio!r}: expected a number in (0, 1], '
                         'e.g. 1 / 8 for reduction 8')
    if not _is_count(min_rd_channels):
        raise ValueError(f'min_rd_channels={min_rd_channels!r}: expected an int >= 0')
    ratio = Fraction(rd_ratio).limit_denominator(1024)
    return max(math.floor(channels * ratio), min_rd_channels)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class ChannelMLP(nn.Module):
    """``fc2(act(fc1(p)))`` on a pooled descriptor ``p`` (or the sum over two).

    Args:
        channels (int): Input and output width ``C``.
        hidden_channels (int): Hidden width; 0 gives a constant zero output.
        bias (bool): Whether both layers have a bias. SE has none, CBAM has.
        act_cfg (dict): The activation between the layers. Default:
            ``dict(type='ReLU')``.
    """

    def __init__(self,
                 channels: int,
                 hidden_channels: int,
                 bias: bool = False,
                 act_cfg: ConfigType = DEFAULT_ACT_CFG):
        super().__init__()
        with warnings.catch_warnings():
            # nn.Linear warns that initialising a zero-width weight is a no-op.
            warnings.filterwarnings('ignore', message='Initializing zero-element tensors')
            self.fc1 = nn.Linear(channels, hidden_channels, bias=bias)
            self.fc2 = nn.Linear(hidden_channels, channels, bias=bias)
        self.act = build_activation_layer(act_cfg)

    def is_core_mlp(self) -> bool:
        """Whether the attention core's ``channel_mlp`` computes this MLP.

        It does where the activation is an ``nn.ReLU`` and neither the MLP
        nor its layers have hooks, which the operator would skip.
        """
        return type(self.act) is nn.ReLU and not has_hooks(self, self.fc1, self.act, self.fc2)

    def forward(self, pooled: Tensor, second: Optional[Tensor] = None) -> Tensor:
        """Channel logits of a pooled descriptor, plus those of a second one.

        An MLP whose activation is an ``nn.ReLU``, with no hooks on its layers,
        is one call of the attention core's ``channel_mlp`` (on the CPU one
        kernel each way for both descriptors, where torch's linear layers
        make about seven operator calls each way per descriptor).

        Args:
            pooled (Tensor): Shape (N, C, 1, 1).
            second (Tensor, optional): Shape (N, C, 1, 1), through the same
                MLP; its logits are added (``SE_A_M``'s and CBAM's max-pooled
                descriptor). Default: None.

        Returns:
            Tensor: Logits of shape (N, C, 1, 1) in the dtype of ``pooled``
            (under autocast the linear layers may compute in lower precision).
        """
        if self.is_core_mlp():
            logits = ops_for(pooled).channel_mlp(pooled, second, self.fc1.weight, self.fc1.bias,
                                                 self.fc2.weight, self.fc2.bias)
        else:
            descriptors = (pooled, ) if second is None else (pooled, second)
            logits = sum(self.fc2(self.act(self.fc1(p.flatten(1)))) for p in descriptors)
            logits = logits[:, :, None, None]
        return logits.to(pooled.dtype)
