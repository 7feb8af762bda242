# Copyright (c) mmhybrid contributors. All rights reserved.
"""Pieces shared by the checkpoint converters of :mod:`mmhybrid.converters`.

Everything here raises exceptions; the command lines in ``tools/model_converters/`` turn them
into ``error: <message>`` and exit status 1 with :func:`run_converter_cli`.
"""
import os
import os.path as osp
import pickle
import sys
import zipfile
from collections import OrderedDict
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .checkpoint import allow_mmengine_checkpoint_types
from .state_dict import check_finite_weights

#: What :func:`run_converter_cli` reports as ``error: ...`` (anything else is a bug: traceback).
CONVERTER_ERRORS = (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError,
                    pickle.UnpicklingError)


class CheckpointLoadError(RuntimeError):
    """A source checkpoint is empty, truncated, corrupt or no checkpoint at all."""


class UnsafeCheckpointError(CheckpointLoadError):
    """A valid checkpoint that safe (``weights_only``) loading refused: ``--allow-pickle``."""


def is_safe_loading_refusal(exc: BaseException, path: str) -> bool:
    """Whether ``torch.load(path, weights_only=True)`` failed on a *valid* pickle it refused.

    torch reports both a refused pickle and one it cannot parse as an ``UnpicklingError``
    starting "Weights only load failed". A refusal names an ``Unsupported global`` (e.g. the
    ``argparse.Namespace`` of timm's ``args``), in either file format; any other complaint (such
    as ``Unsupported operand``, the first byte of a text file read as a pickle opcode) only counts
    when the file is a zip archive, i.e. a real torch (>= 1.6) checkpoint whose pickle uses
    something the safe loader lacks (e.g. ``pickle_protocol=4``). Corrupt files raise other
    errors: ``RuntimeError`` (PytorchStreamReader: a broken zip), ``EOFError`` (empty or cut
    short), ``UnpicklingError`` ("invalid load key") or ``KeyError``.
    """
    if not isinstance(exc, pickle.UnpicklingError):
        return False
    message = str(exc)
    if 'Weights only load failed' not in message:
        return False
    return 'Unsupported global' in message or zipfile.is_zipfile(path)


def load_source_checkpoint(path: str, allow_pickle: bool = False) -> dict:
    """Load the authors' checkpoint with safe (``weights_only``) loading unless told otherwise.

    Training checkpoints of timm/DeiT-style scripts often pickle an ``argparse.Namespace``
    (``args``), which the safe loader refuses; ``allow_pickle`` loads arbitrary pickles and is
    only for trusted files. ``--allow-pickle`` is only suggested for such refusals, never for a
    file that is simply broken.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a folder.
        UnsafeCheckpointError: a valid checkpoint that needs ``--allow-pickle``.
        CheckpointLoadError: the file is empty, truncated, corrupt or not a checkpoint (the
            message gives its size in bytes).
        TypeError: the checkpoint is not a dict.
        NonFiniteCheckpointError: its weights hold NaN or inf (the tensors are named).
    """
    if not osp.lexists(path) or not osp.exists(path):
        raise FileNotFoundError(f'The source checkpoint {path} does not exist'
                                f'{" (a broken link)" if osp.lexists(path) else ""}.')
    if osp.isdir(path):
        raise IsADirectoryError(f'The source checkpoint {path} is a folder, not a file.')
    size = os.path.getsize(path)
    if size == 0:
        raise CheckpointLoadError(f'The source checkpoint {path} is empty (0 bytes): the '
                                  'download or copy probably failed; fetch it again.')
    allow_mmengine_checkpoint_types()  # the source may be an MMEngine runner checkpoint
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=not allow_pickle)
    except (OSError, MemoryError):
        raise
    except Exception as exc:
        if not allow_pickle and is_safe_loading_refusal(exc, path):
            raise UnsafeCheckpointError(
                f'Safe loading (weights_only=True) refused {path} ({size} bytes): it holds more '
                f'than tensors ({_gist(exc)}). If you trust the file, re-run with '
                '--allow-pickle.') from None
        raise CheckpointLoadError(
            f'Could not read {path} ({size} bytes): the file is truncated, corrupt or not a '
            f'PyTorch checkpoint ({type(exc).__name__}: {_gist(exc)}). Fetch it again and '
            'compare its size and checksum with the release.') from None
    if not isinstance(checkpoint, dict):
        raise TypeError(f'Expected a dict checkpoint in {path}, got {type(checkpoint).__name__}.')
    for entry, weights in _weight_entries(checkpoint):
        check_finite_weights(weights, path if entry is None else f'{path} ({entry!r})')
    return checkpoint


def _weight_entries(checkpoint: dict):
    """``(entry, state dict)`` of the weights a checkpoint holds: the checkpoint itself when it
    is a raw state dict, else each top-level dict of tensors (``model``, ``state_dict``,
    ``model_ema``, ...) except optimizer state."""
    if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        yield None, checkpoint
        return
    for key, value in checkpoint.items():
        if isinstance(value, dict) and 'optim' not in str(key) and value and \
                all(isinstance(v, torch.Tensor) for v in value.values()):
            yield key, value


def _gist(exc: BaseException) -> str:
    """The informative part of torch's loading errors, which run to many lines.

    For the safe loader that is the ``WeightsUnpickler error`` (e.g. ``Unsupported global: GLOBAL
    argparse.Namespace was not an allowed global by default``), without torch's advice to
    disable safe loading; otherwise the first sentence of the message.
    """
    message = str(exc)
    if 'WeightsUnpickler error:' in message:
        message = message.split('WeightsUnpickler error:', 1)[1]
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return 'no details'
    return lines[0].split('. ', 1)[0].rstrip('.')[:200]


def run_converter_cli(main: Callable[[Optional[Sequence[str]]], object],
                      argv: Optional[Sequence[str]] = None) -> int:
    """Run a converter's ``main(argv)``; report expected failures as ``error: <message>``.

    Returns:
        int: the exit status, 0 on success and 1 on an error (printed to stderr).
    """
    try:
        main(argv)
    except CONVERTER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f'error: {message}', file=sys.stderr)
        return 1
    return 0


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
