# Copyright (c) mmhybrid contributors. All rights reserved.
"""Convert a TransCNN or HAT-Net checkpoint in the authors' layout to mmhybrid.

The command line is ``tools/model_converters/hatnet2mmhybrid.py``, whose docstring describes the
authors' release files and the two layouts written (an mmpretrain ``ImageClassifier``, or
unprefixed backbone keys with ``backbone_only``). :func:`convert_file` does what it does: pick
the weights, tell the family and variant from them, rename the keys, load the result with
``strict=True`` into a fresh model and write it atomically. Everything here raises exceptions;
:func:`mmhybrid.utils.converters.run_converter_cli` turns them into ``error: <message>``.
"""
import re
from collections import OrderedDict
from typing import Callable, Dict, Tuple, Type

import torch

from mmhybrid.models.backbones.hatnet import HATNet, TransCNN
from mmhybrid.utils.converters import (
    load_source_checkpoint,
    select_state_dict,
    verify_classifier_weights,
)
from mmhybrid.utils.fileio import atomic_torch_save, check_destination

CLASSIFIER_PREFIX = 'classifier.1.'


def infer_model(state: Dict[str, torch.Tensor]) -> Tuple[Type, str]:
    """The backbone class and the preset name that match the weights."""
    if 'ds2.residual.weight' in state:
        cls = TransCNN
    elif 'ds2.norm.weight' in state:
        cls = HATNet
    else:
        raise KeyError('Neither "ds2.residual.weight" (TransCNN) nor "ds2.norm.weight" '
                       '(HAT-Net) found: not a checkpoint in the authors\' layout.')
    try:
        embed_dims = [state['patch_embed.3.weight'].shape[0]] + [
            state[f'ds{i}.conv.weight'].shape[0] for i in range(2, 5)
        ]
    except KeyError as exc:
        raise KeyError(f'Missing {exc}: not a {cls.__name__} state dict in the authors\' '
                       'layout.') from None
    depths = []
    for stage in range(4):
        indices = {int(m.group(1)) for k in state
                   for m in [re.match(rf'blocks\.{stage}\.(\d+)\.', k)] if m}
        depths.append(max(indices) + 1 if indices else 0)
    kernels = [state[f'blocks.{s}.0.conv.conv2.0.weight'].shape[-1] for s in range(4)]
    for name, preset in cls.arch_settings.items():
        if (preset['embed_dims'], preset['depths'], preset['kernel_sizes']) == (
                embed_dims, depths, kernels):
            return cls, name
    raise ValueError(f'No {cls.__name__} preset has embed_dims={embed_dims}, depths={depths}, '
                     f'kernel_sizes={kernels}; presets: {sorted(cls.arch_settings)}. Head sizes '
                     'and pooling ratios leave no trace in the weights, so custom variants '
                     'cannot be converted automatically.')


def convert(state: Dict[str, torch.Tensor],
            backbone_only: bool = False) -> Tuple[OrderedDict, list]:
    """Rename the authors' keys. Returns the new state dict and the dropped keys."""
    converted, dropped = OrderedDict(), []
    for key, value in state.items():
        if key.startswith(CLASSIFIER_PREFIX):
            if backbone_only:
                dropped.append(key)
            else:
                converted['head.fc.' + key[len(CLASSIFIER_PREFIX):]] = value
        else:
            converted[key if backbone_only else 'backbone.' + key] = value
    return converted, dropped


def verify(converted: Dict[str, torch.Tensor], cls: Type, arch: str,
           backbone_only: bool) -> None:
    """Load ``converted`` strictly into a fresh model (and check the classifier's shape)."""
    model = cls(arch)
    verify_classifier_weights(
        model, converted, backbone_only, channels=model.embed_dims[-1],
        description=f'{cls.__name__}({arch!r})', authors_head='classifier.1.weight/bias')


def convert_file(src: str, dst: str, ema: bool = False, backbone_only: bool = False,
                 allow_pickle: bool = False, force: bool = False,
                 log: Callable[[str], None] = print) -> dict:
    """Convert the checkpoint ``src``, verify it strictly, write ``dst`` atomically.

    Args:
        ema: convert the ``model_ema`` weights instead of ``model``.
        backbone_only: write unprefixed backbone keys and drop the classifier.
        allow_pickle: load ``src`` with ``weights_only=False``; only for trusted files.
        force: replace an existing ``dst`` (never ``src`` itself).
        log: receives the dropped keys and the one-line summary.

    Returns:
        dict: what was written, ``{'meta', 'state_dict'}`` (``meta['arch']``: the variant).
    """
    check_destination(dst, sources=[src], force=force)

    checkpoint = load_source_checkpoint(src, allow_pickle)
    state, origin = select_state_dict(checkpoint, ('model', 'state_dict'), 'TransCNN/HAT-Net',
                                      ema=ema)
    cls, arch = infer_model(state)
    converted, dropped = convert(state, backbone_only)
    verify(converted, cls, arch, backbone_only)

    result = dict(meta=dict(source=str(src), source_key=origin, model=cls.__name__, arch=arch,
                            layout='backbone' if backbone_only else 'ImageClassifier'),
                  state_dict=converted)
    atomic_torch_save(result, dst)  # a temporary file renamed into place
    if dropped:
        log(f'Dropped {len(dropped)} classifier keys on request: {", ".join(dropped)}')
    log(f'Converted {len(converted)} tensors from {origin} ({cls.__name__} {arch}) to {dst}.')
    return result
