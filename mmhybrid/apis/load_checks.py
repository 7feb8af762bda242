# Copyright (c) mmhybrid contributors. All rights reserved.
"""What ``tools/train.py`` checks about the checkpoint it starts from, before any dataset is
built.

* ``load_from`` (fine-tuning) loads strictly, like ``tools/test.py``, ``--resume`` and
  ``init_cfg``: MMEngine alone loads it with ``strict=False`` and trains a random or
  half-loaded model after a few warnings. ``load_from_strict=False`` in the config
  (``--cfg-options load_from_strict=False``) allows a deliberate partial load and lists what
  did not load.
* ``--resume`` continues the run the checkpoint belongs to. A config that differs from the
  checkpoint's (``meta.cfg``, which MMEngine writes into every checkpoint) in the model,
  optimizer, schedule or training data is listed and refused unless ``--resume-with-changes``
  is given, and then the settings that the checkpoint's optimizer and scheduler states
  override anyway are named. A schedule that ends at or before the checkpoint's iteration
  (epoch) is an error: the run would exit at once having done nothing.
* Every checkpoint's weights must be finite
  (:func:`mmhybrid.utils.state_dict.check_finite_weights`).
"""
from typing import Dict, List, Mapping, Optional, Tuple

from mmengine.config import Config

from mmhybrid.utils.state_dict import (
    check_checkpoint_fits,
    checkpoint_state_dict,
    compare_state_dicts,
    read_checkpoint,
)

__all__ = [
    'RESUME_SECTIONS', 'ResumeConfigError', 'check_load_from', 'check_resume',
    'config_differences'
]

#: The config sections whose changes alter what a resumed run trains.
RESUME_SECTIONS = ('model', 'data_preprocessor', 'optim_wrapper', 'param_scheduler',
                   'train_cfg', 'train_dataloader', 'auto_scale_lr')
#: Dataloader settings that change speed, not what is trained.
_SPEED_ONLY_KEYS = ('num_workers', 'persistent_workers', 'pin_memory', 'prefetch_factor')
#: Differences under these keys are overridden by the optimizer / scheduler state a resume
#: restores.
_RESTORED_FROM_CHECKPOINT = ('optim_wrapper.optimizer.', 'param_scheduler')


class ResumeConfigError(ValueError):
    """``--resume`` with a config that differs from the checkpoint's, or nothing left to do."""


def check_load_from(model, cfg: Config) -> Optional[str]:
    """Check ``cfg.load_from`` against ``model`` (unwrapped) when not resuming.

    Returns:
        str or None: with ``load_from_strict=False``, the list of what will not load.

    Raises:
        CheckpointMismatchError: the checkpoint does not fit exactly (strict, the default) or
            holds non-finite weights (always).
    """
    path = cfg.get('load_from')
    if not path or cfg.get('resume'):
        return None
    checkpoint = read_checkpoint(path)
    if cfg.get('load_from_strict', True):
        check_checkpoint_fits(
            model, path, checkpoint=checkpoint,
            fix='load_from must fit the model exactly. Use a checkpoint of this config, or, '
            'for a deliberate partial load (e.g. another number of classes), pass '
            '--cfg-options load_from_strict=False: what does not load is then listed and '
            'keeps its initialisation.')
        return None
    mismatch = compare_state_dicts(model.state_dict(), checkpoint_state_dict(checkpoint))
    if mismatch.is_exact:
        return None
    return (f'load_from_strict=False: {path} does not fit the model exactly; what did not '
            f'load keeps its initialisation:\n{mismatch.describe(limit=20)}')


def _section(cfg: Config, name: str):
    value = cfg.get(name, None)
    if hasattr(value, 'to_dict'):
        value = value.to_dict()
    if name == 'train_dataloader' and isinstance(value, dict):
        value = {k: v for k, v in value.items() if k not in _SPEED_ONLY_KEYS}
    return value


def _flat_differences(old, new, key: str) -> Dict[str, Tuple[object, object]]:
    """``{dotted key: (old, new)}`` for every leaf where two nested values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        differences = {}
        for name in sorted(set(old) | set(new), key=str):
            differences.update(_flat_differences(
                old.get(name, '<absent>'), new.get(name, '<absent>'), f'{key}.{name}'))
        return differences
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)) and \
            len(old) == len(new):
        differences = {}
        for index, (first, second) in enumerate(zip(old, new)):
            differences.update(_flat_differences(first, second, f'{key}[{index}]'))
        return differences
    return {} if old == new else {key: (old, new)}


def config_differences(old: Config, new: Config) -> Dict[str, Tuple[object, object]]:
    """Differences in :data:`RESUME_SECTIONS` between a checkpoint's config and a new one."""
    differences = {}
    for name in RESUME_SECTIONS:
        differences.update(_flat_differences(_section(old, name), _section(new, name), name))
    return differences


def _schedule_left(checkpoint: Mapping, path: str, cfg: Config) -> None:
    meta = checkpoint.get('meta') or {}
    train_cfg = cfg.get('train_cfg') or {}
    for unit, limit_key in (('iter', 'max_iters'), ('epoch', 'max_epochs')):
        limit = train_cfg.get(limit_key)
        done = meta.get(unit)
        if limit is None or not isinstance(done, int):
            continue
        if done >= limit:
            raise ResumeConfigError(
                f'--resume {path}: the checkpoint is at {unit} {done} and '
                f'train_cfg.{limit_key}={limit}, so there is nothing left to train. Raise '
                f'train_cfg.{limit_key} (with --resume-with-changes) to train longer, or '
                'evaluate the checkpoint with tools/test.py.')
        return


def check_resume(checkpoint: Mapping, path: str, cfg: Config,
                 allow_changes: bool = False) -> List[str]:
    """Check that ``--resume path`` continues the run the checkpoint belongs to.

    Returns:
        list[str]: lines to print (the differences that ``allow_changes`` accepted).

    Raises:
        ResumeConfigError: nothing is left to train, or the config differs from the
            checkpoint's and ``allow_changes`` is false.
    """
    _schedule_left(checkpoint, path, cfg)
    text = (checkpoint.get('meta') or {}).get('cfg')
    if not isinstance(text, str):
        return [f'--resume {path}: the checkpoint records no config (meta.cfg); the '
                'settings it was trained with could not be compared with this config.']
    try:
        old = Config.fromstring(text, file_format='.py')
    except Exception as exc:  # a config MMEngine wrote but cannot read back
        return [f'--resume {path}: the checkpoint\'s config could not be read back '
                f'({type(exc).__name__}: {exc}); it was not compared with this config.']
    differences = config_differences(old, cfg)
    if not differences:
        return []
    listing = '\n'.join(f'  {key}: {before!r} -> {after!r}'
                        for key, (before, after) in differences.items())
    if not allow_changes:
        raise ResumeConfigError(
            f'--resume {path}: this config differs from the one the checkpoint was trained '
            f'with:\n{listing}\nA resumed run continues that run. Resume with its config, '
            'start a new run (load_from=... to start from these weights), or pass '
            '--resume-with-changes to continue with these changes.')
    lines = [f'--resume-with-changes: continuing {path} with these changes:\n{listing}']
    restored = [key for key in differences if key.startswith(_RESTORED_FROM_CHECKPOINT)]
    if restored:
        lines.append('Not in effect: the optimizer and scheduler states restored from the '
                     f'checkpoint override {restored}.')
    return lines
