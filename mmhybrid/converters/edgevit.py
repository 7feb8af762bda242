# Copyright (c) mmhybrid contributors. All rights reserved.
"""Convert an EdgeViT checkpoint in the authors' layout (saic-fi/edgevit) to mmhybrid.

The command line is ``tools/model_converters/edgevit2mmhybrid.py``, whose docstring describes the
accepted files and the two layouts written (an mmpretrain ``ImageClassifier``, or unprefixed
backbone keys with ``backbone_only``). :func:`convert_file` does what it does: pick the weights,
infer the architecture, rename the keys, load the result with ``strict=True`` into a fresh
``EdgeViT`` and write it atomically. Everything here raises exceptions;
:func:`mmhybrid.utils.converters.run_converter_cli` turns them into ``error: <message>``.
"""
import re
from collections import OrderedDict
from typing import Callable, Dict, Optional, Tuple

import torch

from mmhybrid.models.backbones.edgevit import EdgeViT
from mmhybrid.utils.converters import (
    load_source_checkpoint,
    select_state_dict,
    verify_classifier_weights,
)
from mmhybrid.utils.fileio import atomic_torch_save, check_destination

SOURCE_KEYS = ('model', 'model_ema', 'state_dict')


def infer_arch(state: Dict[str, torch.Tensor]) -> Tuple[dict, Optional[str]]:
    """Depths and widths from the weights; the name of the matching preset, if any.

    Head counts leave no trace in the weights; presets get theirs, a custom architecture gets
    one head per stage (irrelevant for loading, so only used for the strict check).
    """
    try:
        embed_dims = [state[f'patch_embed{i}.proj.weight'].shape[0] for i in range(1, 5)]
    except KeyError as exc:
        raise KeyError(f'Missing {exc}: not an EdgeViT state dict in the authors\' layout.')
    depths = []
    for stage in range(1, 5):
        indices = {int(m.group(1)) for k in state
                   for m in [re.match(rf'blocks{stage}\.(\d+)\.', k)] if m}
        depths.append(max(indices) + 1 if indices else 0)
    sr_ratios = []
    for stage in range(1, 5):
        prop = state.get(f'blocks{stage}.0.SelfAttn.attn.LocalProp.weight')
        sr_ratios.append(prop.shape[-1] if prop is not None else 1)
    mlp_ratios = [state[f'blocks{s}.0.SelfAttn.mlp.fc1.weight'].shape[0] / c
                  for s, c in zip(range(1, 5), embed_dims)]
    mlp_ratios = [int(r) if float(r).is_integer() else r for r in mlp_ratios]
    for name, preset in EdgeViT.arch_settings.items():
        if (preset['depths'], preset['embed_dims'], preset['sr_ratios'],
                preset['mlp_ratios']) == (depths, embed_dims, sr_ratios, mlp_ratios):
            return dict(preset), name
    return dict(depths=depths, embed_dims=embed_dims, num_heads=[1, 1, 1, 1],
                mlp_ratios=mlp_ratios, sr_ratios=sr_ratios), None


def convert(state: Dict[str, torch.Tensor], backbone_only: bool = False,
            keep_final_norm: bool = False) -> Tuple[OrderedDict, list]:
    """Rename the authors' keys. Returns the new state dict and the list of dropped keys."""
    if keep_final_norm and not backbone_only:
        raise ValueError('--keep-final-norm only applies with --backbone-only (the classifier '
                         'layout always keeps the final norm).')
    converted, dropped = OrderedDict(), []
    for key, value in state.items():
        is_head = key.startswith('head.')
        is_final_norm = key.startswith('norm.')
        if backbone_only:
            if is_head or (is_final_norm and not keep_final_norm):
                dropped.append(key)
            else:
                converted[key] = value
        elif is_head:
            converted['head.fc.' + key[len('head.'):]] = value
        else:
            converted['backbone.' + key] = value
    return converted, dropped


def verify(converted: Dict[str, torch.Tensor], arch: dict, backbone_only: bool,
           keep_final_norm: bool) -> None:
    """Load ``converted`` strictly into a fresh ``EdgeViT`` (and check the head's shape)."""
    final_norm = keep_final_norm if backbone_only else True
    verify_classifier_weights(
        EdgeViT(arch, final_norm=final_norm), converted, backbone_only,
        channels=arch['embed_dims'][-1],
        description=f'EdgeViT({arch}, final_norm={final_norm})',
        authors_head='head.weight, head.bias')


def convert_file(src: str, dst: str, ema: bool = False, backbone_only: bool = False,
                 keep_final_norm: bool = False, allow_pickle: bool = False, force: bool = False,
                 log: Callable[[str], None] = print) -> dict:
    """Convert the checkpoint ``src``, verify it strictly, write ``dst`` atomically.

    Args:
        ema: convert the ``model_ema`` weights instead of ``model``.
        backbone_only: write unprefixed backbone keys (drop the classifier and, unless
            ``keep_final_norm``, the final norm).
        allow_pickle: load ``src`` with ``weights_only=False``; only for trusted files.
        force: replace an existing ``dst`` (never ``src`` itself).
        log: receives the dropped keys and the one-line summary.

    Returns:
        dict: what was written, ``{'meta', 'state_dict'}``.
    """
    check_destination(dst, sources=[src], force=force)

    checkpoint = load_source_checkpoint(src, allow_pickle)
    state, origin = select_state_dict(checkpoint, SOURCE_KEYS, 'EdgeViT', ema=ema)
    arch, arch_name = infer_arch(state)
    converted, dropped = convert(state, backbone_only, keep_final_norm)
    verify(converted, arch, backbone_only, keep_final_norm)

    result = dict(meta=dict(source=str(src), source_key=origin, arch=arch_name or arch,
                            layout='backbone' if backbone_only else 'ImageClassifier'),
                  state_dict=converted)
    atomic_torch_save(result, dst)  # a temporary file renamed into place
    if dropped:
        log(f'Dropped {len(dropped)} keys on request: {", ".join(dropped)}')
    log(f'Converted {len(converted)} tensors from {origin} (arch: {arch_name or arch}) to {dst}.')
    return result
