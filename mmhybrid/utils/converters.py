# Copyright (c) mmhybrid contributors. All rights reserved.
"""Pieces shared by the checkpoint converters in ``tools/model_converters/``."""
from collections import OrderedDict
from typing import Dict, Sequence, Tuple

import torch
import torch.nn as nn


def load_source_checkpoint(path: str, allow_pickle: bool = False) -> dict:
    """Load the authors' checkpoint with safe (``weights_only``) loading unless told otherwise.

    Training checkpoints of timm/DeiT-style scripts often pickle an ``argparse.Namespace``
    (``args``), which the safe loader refuses; ``allow_pickle`` loads arbitrary pickles and is
    only for trusted files.

    Raises:
        SystemExit: the file needs ``--allow-pickle``.
    """
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=not allow_pickle)
    except Exception as exc:  # torch raises UnpicklingError / RuntimeError for unsafe pickles
        if allow_pickle:
            raise
        raise SystemExit(f'Could not load {path} with weights_only=True ({exc}). If you trust '
                         'the file, re-run with --allow-pickle.')
    if not isinstance(checkpoint, dict):
        raise TypeError(f'Expected a dict checkpoint in {path}, got {type(checkpoint).__name__}.')
    return checkpoint


def select_state_dict(checkpoint: dict,
                      source_keys: Sequence[str],
                      family: str,
                      ema: bool = False) -> Tuple[Dict[str, torch.Tensor], str]:
    """Pick the weights out of a training checkpoint, or accept a raw state dict.

    Args:
        checkpoint (dict): What :func:`load_source_checkpoint` returned.
        source_keys (Sequence[str]): Entries that may hold the weights, in order of preference.
        family (str): Named in the error for a file that is not such a checkpoint.
        ema (bool): Take ``model_ema`` (and fail if there is none).

    Returns:
        tuple: the state dict with ``module.`` (DDP) prefixes removed, and the entry it came
        from (``'raw state dict'`` for a bare one).
    """
    if ema:
        if 'model_ema' not in checkpoint:
            raise KeyError('--ema given but the checkpoint has no "model_ema" entry '
                           f'(top-level keys: {sorted(checkpoint)[:10]}).')
        state, origin = checkpoint['model_ema'], 'model_ema'
    elif checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        state, origin = checkpoint, 'raw state dict'
    else:
        origin = next((key for key in source_keys if key in checkpoint), None)
        if origin is None:
            raise KeyError(f'Not a {family} checkpoint: expected a raw state dict or one of '
                           f'{list(source_keys)}, got top-level keys {sorted(checkpoint)[:10]}.')
        state = checkpoint[origin]
    state = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v)
                        for k, v in state.items())
    return state, origin


def verify_classifier_weights(backbone: nn.Module, converted: Dict[str, torch.Tensor],
                              backbone_only: bool, channels: int, description: str,
                              authors_head: str) -> None:
    """Check converted weights against a fresh backbone, strictly.

    Without ``backbone_only`` the weights are an mmpretrain ``ImageClassifier``'s:
    ``backbone.*`` plus exactly a Linear ``head.fc`` on ``channels`` inputs.

    Raises:
        RuntimeError: naming the mismatching keys (never a silent partial load).
    """
    if backbone_only:
        backbone_state = converted
    else:
        backbone_state = {k[len('backbone.'):]: v for k, v in converted.items()
                          if k.startswith('backbone.')}
        head = {k: v for k, v in converted.items() if not k.startswith('backbone.')}
        if set(head) != {'head.fc.weight', 'head.fc.bias'} or \
                head['head.fc.weight'].shape[1] != channels:
            raise RuntimeError(f'Expected a Linear classifier on {channels} channels '
                               f'({authors_head}), got {sorted(head)}; use --backbone-only to '
                               'drop it.')
    try:
        backbone.load_state_dict(backbone_state, strict=True)
    except RuntimeError as exc:
        raise RuntimeError(f'The converted weights do not match {description}:\n{exc}') from None

