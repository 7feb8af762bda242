# Copyright (c) mmhybrid contributors. All rights reserved.
"""Deploy-time re-parameterisation: the folding arithmetic, written once.

Blocks that fold for inference follow the protocol of :mod:`mmhybrid.models.utils.reparam`
(one ``deploy`` flag, an idempotent ``reparameterize()``) and fold with these functions, naming
the conv and the BatchNorm they fold explicitly (never by module registration order); a
backbone's ``switch_to_deploy()`` calls them innermost first. :func:`switch_to_deploy`
converts a whole task model: the mmhybrid parts through their own ``reparameterize()``/
``switch_to_deploy()``, the stock parts (mmcv ``ConvModule`` in necks and heads) with
:func:`fuse_conv_bn_pairs`.

A BN after a conv folds with torch's ``fuse_conv_bn_weights``; the folds written here cover
what torch has no function for: a BN *before* its 1x1 conv or linear, and an identity branch
absorbed by a depthwise conv.
"""
from typing import Collection

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_weights


def can_fold(norm: nn.Module) -> bool:
    """Whether ``norm`` is a BatchNorm with running statistics, i.e. an affine map at
    inference that a neighbouring conv or linear can absorb exactly (GroupNorm, LayerNorm and
    InstanceNorm depend on each sample and never fold)."""
    return isinstance(norm, _BatchNorm) and norm.running_var is not None


def _require_foldable(bn: nn.Module) -> None:
    if not can_fold(bn):
        raise ValueError(f'{type(bn).__name__} cannot be folded: only a BatchNorm with running '
                         'statistics is an affine map at inference.')


def _bn_scale_shift(bn: _BatchNorm):
    """``bn(x) == x * scale + shift`` per channel (inference mode)."""
    _require_foldable(bn)
    scale = bn.running_var.add(bn.eps).rsqrt()
    if bn.affine:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.affine:
        shift = shift + bn.bias
    return scale, shift


def _set_bias(layer: nn.Module, bias: torch.Tensor) -> None:
    """Give a conv/linear ``bias`` (creating the parameter if it had none)."""
    if layer.bias is None:
        layer.bias = nn.Parameter(bias)
    else:
        layer.bias.copy_(bias)


@torch.no_grad()
def fuse_conv_bn(conv: nn.Conv2d, bn: _BatchNorm) -> nn.Conv2d:
    """Fold ``bn`` into the ``conv`` it follows, in place: ``bn(conv(x)) == conv'(x)``.

    The arithmetic is torch's own (``torch.nn.utils.fusion.fuse_conv_bn_weights``); the conv
    gains a bias if it had none. Returns the conv; the caller replaces ``bn`` (by
    ``nn.Identity()``, or drops it when building the deploy structure).

    Raises:
        ValueError: ``bn`` is not a BatchNorm with running statistics.
    """
    _require_foldable(bn)
    conv.weight, conv.bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean,
                                                  bn.running_var, bn.eps, bn.weight, bn.bias)
    return conv


@torch.no_grad()
def fold_preceding_bn_into_pointwise_conv(bn: _BatchNorm, conv: nn.Conv2d) -> nn.Conv2d:
    """Fold ``bn`` into the 1x1 ``conv`` that consumes its output: ``conv(bn(x)) == conv'(x)``.

    With ``bn(x) = x * s + t`` per input channel, ``W' = W * s`` and ``b' = b + W @ t``. Exact for
    an ungrouped 1x1 conv without padding (no zero padding would have to pass through the BN).
    """
    if conv.kernel_size != (1, 1) or conv.groups != 1 or conv.padding != (0, 0):
        raise ValueError('Only an ungrouped, unpadded 1x1 conv can absorb the BN before it.')
    scale, shift = _bn_scale_shift(bn)
    weight = conv.weight
    bias = conv.bias if conv.bias is not None else weight.new_zeros(weight.shape[0])
    new_bias = bias + weight[:, :, 0, 0] @ shift
    conv.weight.mul_(scale.view(1, -1, 1, 1))
    _set_bias(conv, new_bias)
    return conv


@torch.no_grad()
def fold_preceding_bn_into_linear(bn: _BatchNorm, linear: nn.Linear) -> nn.Linear:
    """Fold a ``BatchNorm1d`` into the ``linear`` that consumes its output."""
    scale, shift = _bn_scale_shift(bn)
    bias = linear.bias if linear.bias is not None else linear.weight.new_zeros(
        linear.out_features)
    new_bias = bias + linear.weight @ shift
    linear.weight.mul_(scale)
    _set_bias(linear, new_bias)
    return linear


@torch.no_grad()
def fold_identity_into_depthwise_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """Make ``conv'(x) == x + conv(x)`` for a depthwise, odd-kernel, 'same'-padded conv."""
    kh, kw = conv.kernel_size
    if not (conv.groups == conv.in_channels == conv.out_channels and kh % 2 == kw % 2 == 1):
        raise ValueError('Only a depthwise conv with an odd kernel can absorb an identity.')
    conv.weight[:, 0, kh // 2, kw // 2] += 1.
    return conv


@torch.no_grad()
def fuse_conv_bn_pairs(module: nn.Module, skip: Collection[int] = ()) -> nn.Module:
    """Fold every BatchNorm that directly follows a conv among a module's children, recursively
    (for stock parts: mmcv ``ConvModule``, ``nn.Sequential(conv, bn, act)``). Modules whose
    ``id`` is in ``skip`` (parts that folded themselves explicitly) are left alone. In place;
    returns ``module``. Not ``mmcv.cnn.fuse_conv_bn``: that one also folds a BN into a conv two
    children back, across the activation between them, and cannot skip parts.
    """
    last_conv_name = None
    for name, child in list(module.named_children()):
        if id(child) in skip:
            last_conv_name = None
        elif isinstance(child, _BatchNorm) and can_fold(child) and last_conv_name is not None:
            fuse_conv_bn(module._modules[last_conv_name], child)
            module._modules[name] = nn.Identity()
            last_conv_name = None
        elif isinstance(child, nn.Conv2d):
            last_conv_name = name
        else:  # anything between a conv and a BN (an activation) makes them unfoldable
            last_conv_name = None
            fuse_conv_bn_pairs(child, skip)
    return module


@torch.no_grad()
def switch_to_deploy(model: nn.Module) -> nn.Module:
    """Convert a whole model (backbone, neck, heads) to its inference form, in place.

    Every submodule with its own ``switch_to_deploy()`` (the mmhybrid backbones, heads that
    fold; outermost first) converts itself, then blocks with a ``reparameterize()`` outside
    those (plug-ins in a stock network) fold, innermost first, and finally the stock conv+BN
    pairs left are folded by :func:`fuse_conv_bn_pairs`. Puts the model in eval mode. Returns
    ``model``.

    Raises:
        UnfoldableNormError: a block has a norm it must fold and cannot (the error names the
            block and its place in ``model``).
    """
    from .reparam import UnfoldableNormError  # reparam builds on this module

    model.eval()
    handled = set()
    modules = list(model.named_modules())
    try:
        for name, module in modules:  # pre-order: an owner comes before its submodules
            if id(module) not in handled and hasattr(module, 'switch_to_deploy'):
                module.switch_to_deploy()
                handled.update(id(sub) for sub in module.modules())
        for name, module in reversed(modules):
            if id(module) not in handled and hasattr(module, 'reparameterize'):
                module.reparameterize()
                handled.update(id(sub) for sub in module.modules())
    except UnfoldableNormError as error:  # name the block from the model's root
        raise error.within(name) from None
    fuse_conv_bn_pairs(model, skip=handled)
    return model
