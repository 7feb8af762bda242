# Copyright (c) mmhybrid contributors. All rights reserved.
"""Does a checkpoint fit a model? Strict checks with errors that say what is wrong.

MMEngine loads ``load_from`` checkpoints and ``init_cfg=Pretrained`` weights with
``strict=False``: a checkpoint of another model, of another architecture or with a missing
``backbone.`` prefix loads "successfully", leaving random weights behind a few warnings, and
evaluation then reports a wrong number with exit code 0. These helpers compare a checkpoint
with a model before anything long starts and name the mismatch and the fix.
"""
import os.path as osp
import re
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn

from .checkpoint import allow_mmengine_checkpoint_types, checkpoint_problem, unsafe_load_hint

#: BatchNorm counters that MMEngine (and torch before 1.x checkpoints) tolerate when missing.
_TOLERATED_MISSING_SUFFIX = 'num_batches_tracked'


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not fit the model it is loaded into."""


class NonFiniteCheckpointError(CheckpointMismatchError):
    """A checkpoint holds NaN or infinite weights (the run that wrote it diverged)."""


def non_finite_tensors(tensors: Mapping[str, torch.Tensor]) -> List[str]:
    """Names of the floating-point tensors in ``tensors`` holding a NaN or an infinity.

    One flag per tensor is computed on the tensor's device and the flags are read back once per
    device (the divergence guard calls this every iteration: a read-back per tensor would
    synchronise a GPU hundreds of times).
    """
    by_device: Dict[torch.device, List[Tuple[str, torch.Tensor]]] = {}
    for name, value in tensors.items():
        if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_complex()):
            by_device.setdefault(value.device, []).append((name, value))
    bad = set()
    for group in by_device.values():
        finite = torch.stack([torch.isfinite(value).all() for _, value in group]).tolist()
        bad.update(name for (name, _), ok in zip(group, finite) if not ok)
    return [name for name in tensors if name in bad]


def describe_non_finite(names: List[str], total: int, limit: int = 6) -> str:
    """``'3 of 120 tensors: a, b, c'`` for an error message."""
    more = f', ... ({len(names) - limit} more)' if len(names) > limit else ''
    return f'{len(names)} of {total} tensors: {", ".join(names[:limit])}{more}'


def check_finite_weights(state: Mapping[str, torch.Tensor], path: str) -> None:
    """Raise :class:`NonFiniteCheckpointError` naming the tensors of ``state`` (the weights of
    the checkpoint ``path``) that hold NaN or inf."""
    bad = non_finite_tensors(state)
    if bad:
        raise NonFiniteCheckpointError(
            f'Checkpoint {path} holds NaN or infinite values in '
            f'{describe_non_finite(bad, len(state))}. The run that wrote it diverged; use a '
            'checkpoint saved before the divergence (tools/train.py stops a diverging run '
            'and names the last good one).')


class StateDictMismatch(NamedTuple):
    """Differences between a model's state dict and a checkpoint's."""
    missing: List[str]  # in the model, not in the checkpoint
    unexpected: List[str]  # in the checkpoint, not in the model
    wrong_shape: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]]  # key, checkpoint, model
    num_model_keys: int
    num_checkpoint_keys: int

    @property
    def is_exact(self) -> bool:
        return not (self.missing or self.unexpected or self.wrong_shape)

    def describe(self, limit: int = 6) -> str:
        """A few lines listing each kind of difference (at most ``limit`` keys each)."""

        def listing(keys: List[str]) -> str:
            more = f', ... ({len(keys) - limit} more)' if len(keys) > limit else ''
            return ', '.join(keys[:limit]) + more

        lines = []
        if self.wrong_shape:
            shapes = [f'{key} (checkpoint {list(ckpt)} vs model {list(model)})'
                      for key, ckpt, model in self.wrong_shape]
            lines.append(f'{len(self.wrong_shape)} tensors of another shape: {listing(shapes)}')
        if self.missing:
            lines.append(f'{len(self.missing)} of the model\'s {self.num_model_keys} keys are '
                         f'missing from the checkpoint: {listing(self.missing)}')
        if self.unexpected:
            lines.append(f'{len(self.unexpected)} of the checkpoint\'s '
                         f'{self.num_checkpoint_keys} keys are not in the model: '
                         f'{listing(self.unexpected)}')
        return '\n'.join(lines)


def compare_state_dicts(model_state: Mapping[str, torch.Tensor],
                        loaded: Mapping[str, torch.Tensor]) -> StateDictMismatch:
    """Compare key sets and shapes (missing ``num_batches_tracked`` counters are tolerated)."""
    missing = [k for k in model_state
               if k not in loaded and not k.endswith(_TOLERATED_MISSING_SUFFIX)]
    unexpected = [k for k in loaded if k not in model_state]
    wrong_shape = []
    for key, value in loaded.items():
        if key in model_state and hasattr(value, 'shape') and \
                tuple(value.shape) != tuple(model_state[key].shape):
            wrong_shape.append((key, tuple(value.shape), tuple(model_state[key].shape)))
    return StateDictMismatch(missing, unexpected, wrong_shape, len(model_state), len(loaded))


def diagnose(mismatch: StateDictMismatch, model_state: Mapping[str, torch.Tensor],
             loaded: Mapping[str, torch.Tensor]) -> Optional[str]:
    """The most likely cause of ``mismatch``, in one sentence, or ``None``."""
    if mismatch.is_exact:
        return None
    if not set(model_state) & set(loaded):
        roots = sorted({key.split('.', 1)[0] for key in loaded})[:6]
        return ('no key of the checkpoint belongs to this model (its top-level names are '
                f'{roots}): it was written for another model')
    for root in sorted({key.split('.', 1)[0] for key in model_state}):
        wanted = {k for k in mismatch.missing if k.startswith(root + '.')}
        prefixed = {f'{root}.{k}' for k in mismatch.unexpected}
        if wanted and len(wanted & prefixed) >= 0.9 * len(wanted):
            return (f'the checkpoint holds {root} weights without the "{root}." prefix (a '
                    f'{root}-only file): load it with model.{root}.init_cfg=dict('
                    "type='Pretrained', checkpoint=...) instead, or convert it to a whole-model "
                    'checkpoint')
    if mismatch.wrong_shape:
        return ('the checkpoint was trained with another architecture or number of classes '
                'than this config builds')
    return None


def checkpoint_state_dict(checkpoint: Mapping) -> Dict[str, torch.Tensor]:
    """The weights inside a checkpoint (``state_dict`` entry or a raw state dict), without a
    DDP ``module.`` prefix."""
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, Mapping):
        raise CheckpointMismatchError(
            f'The checkpoint\'s "state_dict" is a {type(state).__name__}, not a dict of tensors.')
    return {(k[len('module.'):] if k.startswith('module.') else k): v for k, v in state.items()}


def load_checkpoint_file(path: str) -> dict:
    """``torch.load`` on CPU with safe loading (MMEngine's runner-checkpoint types allowed:
    :func:`~mmhybrid.utils.checkpoint.allow_mmengine_checkpoint_types`); errors name the file
    and what is wrong.

    Raises:
        NonFiniteCheckpointError: the weights hold NaN or inf (named).
        CheckpointMismatchError: the file is missing, truncated, unsafe or not a checkpoint.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Checkpoint {path} does not exist.')
    size = osp.getsize(path)
    allow_mmengine_checkpoint_types()
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:
        problem = checkpoint_problem(path)
        if problem is not None:
            raise CheckpointMismatchError(f'Checkpoint {path} {problem}.') from None
        raise CheckpointMismatchError(
            f'Checkpoint {path} ({size} bytes) could not be loaded safely: '
            f'{unsafe_load_hint(exc) or exc}') from None
    if not isinstance(checkpoint, Mapping):
        raise CheckpointMismatchError(
            f'Checkpoint {path} holds a {type(checkpoint).__name__}, not a dict of tensors.')
    check_finite_weights(checkpoint_state_dict(checkpoint), path)
    return checkpoint


def read_checkpoint(source: str) -> Mapping:
    """A checkpoint from a local path (:func:`load_checkpoint_file`: safe loading, errors that
    name the file) or a URL (MMEngine's loader, cached); its weights must be finite.

    Raises:
        NonFiniteCheckpointError: the weights hold NaN or inf (named).
    """
    if not re.match(r'^[a-z][a-z0-9+.-]*://', source):
        return load_checkpoint_file(source)
    from mmengine.runner import CheckpointLoader
    allow_mmengine_checkpoint_types()  # MMEngine's loader uses torch.load's default (safe)
    checkpoint = CheckpointLoader.load_checkpoint(source, map_location='cpu')
    check_finite_weights(checkpoint_state_dict(checkpoint), source)
    return checkpoint


def check_checkpoint_fits(model: nn.Module, checkpoint_path: str, fix: str,
                          checkpoint: Optional[Mapping] = None) -> StateDictMismatch:
    """Raise :class:`CheckpointMismatchError` unless the checkpoint fits ``model`` exactly
    and its weights are finite (:class:`NonFiniteCheckpointError` otherwise).

    Args:
        model (nn.Module): The model (unwrapped).
        checkpoint_path (str): Named in the message; loaded unless ``checkpoint`` is given.
        fix (str): What the user can do instead, appended to the message (e.g. the flag that
            loads non-strictly).
        checkpoint (Mapping, optional): The already loaded checkpoint.

    Returns:
        StateDictMismatch: the (empty) comparison.
    """
    if checkpoint is None:
        checkpoint = load_checkpoint_file(checkpoint_path)
    loaded = checkpoint_state_dict(checkpoint)
    check_finite_weights(loaded, checkpoint_path)
    model_state = model.state_dict()
    mismatch = compare_state_dicts(model_state, loaded)
    if mismatch.is_exact:
        return mismatch
    cause = diagnose(mismatch, model_state, loaded)
    origin = ''
    meta = checkpoint.get('meta')
    if isinstance(meta, Mapping) and meta.get('experiment_name'):
        origin = f' (written by run {meta["experiment_name"]})'
    raise CheckpointMismatchError(
        f'Checkpoint {checkpoint_path}{origin} does not fit {type(model).__name__}'
        f'{": " + cause if cause else ""}.\n{mismatch.describe()}\n{fix}')
