"""mmcv-style initialisation shared by SE, CBAM and HOGA (AutoLA, NeurIPS 2020)."""
from mmengine.model import constant_init, kaiming_init
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def init_attention_weights(module: nn.Module) -> None:
    """Initialise every conv, linear layer and BN below ``module`` in place.

    Convs and linear layers get Kaiming normal weights (fan out, ReLU) and
    zero biases, affine BNs (SyncBN too) weight 1 and bias 0. Zero-width layers (the
    authors' ``floor(C / r) = 0`` hidden widths) hold nothing and are skipped.

    Args:
        module (nn.Module): Root of the modules to initialise.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.numel() > 0:
            kaiming_init(m, mode='fan_out', nonlinearity='relu')
        elif isinstance(m, _BatchNorm) and m.affine:
            constant_init(m, 1)
