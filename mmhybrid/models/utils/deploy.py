# Copyright (c) mmhybrid contributors. All rights reserved.
"""Deploy-time re-parameterisation: fold BatchNorm into the preceding convolution."""
import torch
import torch.nn as nn
from mmcv.cnn import fuse_conv_bn as _mmcv_fuse_conv_bn


def fuse_conv_bn_pairs(module: nn.Module) -> nn.Module:
    """Fold every BatchNorm that directly follows a conv among a module's children.

    Works for ``nn.Sequential(conv, bn, act)``, mmcv ``ConvModule`` (``conv`` then ``bn``) and any
    module whose children are registered in call order as ``conv``, ``bn``. The BN is replaced by
    ``nn.Identity`` and the conv gains a bias. In-place; returns ``module``.
    """
    return _mmcv_fuse_conv_bn(module)


@torch.no_grad()
def switch_to_deploy(model: nn.Module) -> nn.Module:
    """Convert ``model`` to its inference form, in place.

    First each submodule that defines its own ``switch_to_deploy`` (e.g. blocks whose BN is not a
    direct sibling of its conv) converts itself, then all remaining conv+BN pairs are folded.
    The model is put in eval mode: folding uses BN running statistics, so it is only valid for
    inference. Returns ``model``.
    """
    model.eval()
    for sub in list(model.modules()):
        if sub is not model and hasattr(sub, 'switch_to_deploy'):
            sub.switch_to_deploy()
    fuse_conv_bn_pairs(model)
    return model
