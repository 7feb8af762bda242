# Copyright (c) mmhybrid contributors. All rights reserved.
"""Turn any config into a short run: ``tools/train.py CONFIG --data-root DIR --iters N``.

Shrinking a config by hand takes a dozen ``--cfg-options`` (every dataloader's ``data_root``,
the COCO evaluator's ``ann_file``, the schedule's warm-up and end, the validation, checkpoint
and log intervals), and a missed one surfaces as a raw error from MMEngine or torch.

* :func:`follow_data_root` points every dataset (through ``ConcatDataset``/``RepeatDataset``
  wrappers) at one folder, and moves every evaluator path that lay under a dataset's old root
  (mmdet's ``ann_file=data_root + 'annotations/...'``) along with it.
* :func:`shorten_schedule` sets the training length and scales what depends on it: scheduler
  ``begin``/``end``/``milestones``/``T_max`` in the loop's unit (warm-ups included), and the
  validation, checkpoint and log intervals, so that each still happens inside the run.
* :func:`check_loop_settings` refuses, before the runner starts, the settings MMEngine or torch
  would refuse later (``persistent_workers`` or ``prefetch_factor`` without workers, a
  scheduler that ends before it begins or starts after training ends) and the one MMEngine
  accepts but never finishes (a warm-up one step long), naming the key and the fix.
"""
import os.path as osp
from typing import List, Optional

from mmengine.config import Config

from mmhybrid.datasets.dataset_cfgs import DATALOADER_KEYS, iter_leaf_dataset_cfgs
from mmhybrid.utils.config import evaluator_metrics

__all__ = ['check_loop_settings', 'follow_data_root', 'shorten_schedule']

#: Evaluator arguments that name input files (mmdet's CocoMetric, mmseg's CityscapesMetric).
_EVALUATOR_FILE_KEYS = ('ann_file', 'seg_prefix')


def _under(path: str, root: str) -> Optional[str]:
    """``path`` relative to ``root`` when it lies under it, else ``None``."""
    root = root.rstrip('/')
    if path == root:
        return ''
    if path.startswith(root + '/'):
        return path[len(root) + 1:]
    return None


def follow_data_root(cfg: Config, data_root: str,
                     dataloader_keys=DATALOADER_KEYS) -> List[str]:
    """Point every dataset of ``dataloader_keys`` at ``data_root``, in place.

    Evaluator files (``ann_file``) that lay under one of the datasets' old roots move with
    them. Returns the changes, one ``key: old -> new`` string each.
    """
    changes, old_roots = [], []
    for loader_key in dataloader_keys:
        loader = cfg.get(loader_key, None)
        dataset = loader.get('dataset', None) if isinstance(loader, dict) else None
        for leaf, key in iter_leaf_dataset_cfgs(dataset, f'{loader_key}.dataset'):
            old = leaf.get('data_root', None)
            if old == data_root:
                continue
            if isinstance(old, str) and old and old not in old_roots:
                old_roots.append(old)
            leaf['data_root'] = data_root
            changes.append(f'{key}.data_root: {old} -> {data_root}')
    evaluator_keys = [f'{key.split("_")[0]}_evaluator' for key in dataloader_keys
                      if key != 'train_dataloader']
    for evaluator_key in evaluator_keys:
        for index, metric in enumerate(evaluator_metrics(cfg.get(evaluator_key, None))):
            for file_key in _EVALUATOR_FILE_KEYS:
                path = metric.get(file_key, None)
                if not isinstance(path, str):
                    continue
                for root in old_roots:
                    relative = _under(path, root)
                    if relative is not None:
                        metric[file_key] = osp.join(data_root, relative)
                        changes.append(f'{evaluator_key}[{index}].{file_key}: {path} -> '
                                       f'{metric[file_key]}')
                        break
    return changes


def _is_epoch_based(train_cfg: dict) -> bool:
    return 'max_epochs' in train_cfg or 'Epoch' in str(train_cfg.get('type', ''))


def _schedulers(cfg: Config) -> List[dict]:
    schedulers = cfg.get('param_scheduler', None)
    if isinstance(schedulers, dict):
        return [schedulers]
    return [s for s in schedulers or [] if isinstance(s, dict)]


#: Schedulers that start from a factor and reach the base value only at their last step.
#: MMEngine steps a scheduler only while ``begin <= step < end``, so one that spans a single
#: step (``end == begin + 1``) never leaves its start: a ``LinearLR`` warm-up of one iteration
#: keeps the learning rate at ``start_factor`` times its value for the whole run.
_START_FACTOR_SCHEDULERS = ('LinearLR', 'ConstantLR', 'LinearMomentum', 'ConstantMomentum',
                            'LinearParamScheduler', 'ConstantParamScheduler')
#: The shortest span that such a scheduler completes.
_MIN_SPAN = 2


def _freezes_at_its_start(scheduler: dict) -> bool:
    """A start-factor scheduler one step long (:data:`_START_FACTOR_SCHEDULERS`)."""
    end = scheduler.get('end', float('inf'))
    return (str(scheduler.get('type', '')).rsplit('.', 1)[-1] in _START_FACTOR_SCHEDULERS
            and not scheduler.get('convert_to_iter_based', False)
            and isinstance(end, (int, float)) and end - scheduler.get('begin', 0) == 1)


def _scaled(value, ratio: float, minimum: int = 0) -> int:
    return max(minimum, int(round(value * ratio)))


def shorten_schedule(cfg: Config, iters: Optional[int] = None,
                     epochs: Optional[int] = None) -> List[str]:
    """Make the run ``iters`` iterations (iteration-based configs) or ``epochs`` epochs
    (epoch-based ones) long, in place, scaling what depends on the length.

    Schedulers counted in the loop's unit are scaled by ``new / old`` length (``begin``,
    ``end``, ``milestones``, ``T_max``; a scheduler keeps at least the two steps a warm-up needs
    to reach its base value); schedulers in the
    other unit (mmdet's iteration warm-up of epoch-based configs) are kept. The validation and
    checkpoint intervals are capped at the new length and the log interval at a tenth of it.

    Returns:
        list[str]: the changes, one ``key: old -> new`` string each.

    Raises:
        ValueError: the flag does not fit the config's loop (``--iters`` on an epoch-based
            config or the reverse), or the length is not positive.
    """
    if iters is None and epochs is None:
        return []
    train_cfg = cfg.get('train_cfg', None) or {}
    by_epoch = _is_epoch_based(train_cfg)
    if by_epoch and iters is not None:
        raise ValueError(f'--iters: {cfg.filename or "the config"} trains by epochs '
                         f'(train_cfg.max_epochs={train_cfg.get("max_epochs")}); use --epochs.')
    if not by_epoch and epochs is not None:
        raise ValueError(f'--epochs: {cfg.filename or "the config"} trains by iterations '
                         f'(train_cfg.max_iters={train_cfg.get("max_iters")}); use --iters.')
    flag, limit_key = ('--epochs', 'max_epochs') if by_epoch else ('--iters', 'max_iters')
    length = epochs if by_epoch else iters
    if not isinstance(length, int) or length < 1:
        raise ValueError(f'{flag} must be a positive integer, got {length!r}.')
    old_length = train_cfg.get(limit_key)
    changes = [f'train_cfg.{limit_key}: {old_length} -> {length}']
    train_cfg[limit_key] = length
    ratio = length / old_length if old_length else 1.0
    if train_cfg.get('val_interval', 1) > length:
        changes.append(f'train_cfg.val_interval: {train_cfg["val_interval"]} -> {length}')
        train_cfg['val_interval'] = length
    for index, scheduler in enumerate(_schedulers(cfg)):
        if bool(scheduler.get('by_epoch', True)) != by_epoch:
            continue
        key = f'param_scheduler[{index}]'
        begin = scheduler.get('begin', 0)
        if begin:
            scheduler['begin'] = min(_scaled(begin, ratio), length - 1)
            changes.append(f'{key}.begin: {begin} -> {scheduler["begin"]}')
        end = scheduler.get('end', None)
        if isinstance(end, (int, float)) and end < float('inf'):
            scheduler['end'] = max(_scaled(end, ratio), scheduler.get('begin', 0) + _MIN_SPAN)
            changes.append(f'{key}.end: {end} -> {scheduler["end"]}')
        if scheduler.get('milestones'):
            old = list(scheduler['milestones'])
            scheduler['milestones'] = sorted({_scaled(m, ratio, minimum=1) for m in old})
            changes.append(f'{key}.milestones: {old} -> {scheduler["milestones"]}')
        if scheduler.get('T_max'):
            old = scheduler['T_max']
            scheduler['T_max'] = _scaled(old, ratio, minimum=1)
            changes.append(f'{key}.T_max: {old} -> {scheduler["T_max"]}')
    hooks = cfg.get('default_hooks', None) or {}
    checkpoint = hooks.get('checkpoint', None)
    if isinstance(checkpoint, dict) and bool(checkpoint.get('by_epoch', True)) == by_epoch \
            and checkpoint.get('interval', -1) > length:
        changes.append(f'default_hooks.checkpoint.interval: {checkpoint["interval"]} -> '
                       f'{length}')
        checkpoint['interval'] = length
    logger = hooks.get('logger', None)
    log_every = max(1, length // 10)
    if isinstance(logger, dict) and not by_epoch and logger.get('interval', 10) > log_every:
        changes.append(f'default_hooks.logger.interval: {logger.get("interval", 10)} -> '
                       f'{log_every}')
        logger['interval'] = log_every
    return changes


def check_loop_settings(cfg: Config) -> None:
    """Refuse the dataloader and scheduler settings MMEngine or torch would refuse later.

    Raises:
        ValueError: naming the key and the fix.
    """
    for key in DATALOADER_KEYS:
        loader = cfg.get(key, None)
        if not isinstance(loader, dict) or loader.get('num_workers', 0):
            continue
        if loader.get('persistent_workers', False):
            raise ValueError(f'{key}.persistent_workers=True needs worker processes but '
                             f'{key}.num_workers=0 (torch refuses it when the dataloader is '
                             f'built): set {key}.persistent_workers=False or num_workers > 0.')
        if loader.get('prefetch_factor', None) is not None:
            raise ValueError(f'{key}.prefetch_factor needs worker processes but '
                             f'{key}.num_workers=0: remove prefetch_factor or set '
                             'num_workers > 0.')
    train_cfg = cfg.get('train_cfg', None) or {}
    by_epoch = _is_epoch_based(train_cfg)
    length = train_cfg.get('max_epochs' if by_epoch else 'max_iters')
    unit = 'epoch' if by_epoch else 'iteration'
    for index, scheduler in enumerate(_schedulers(cfg)):
        key = f'param_scheduler[{index}]'
        begin, end = scheduler.get('begin', 0), scheduler.get('end', float('inf'))
        if isinstance(end, (int, float)) and begin >= end:
            raise ValueError(f'{key} ({scheduler.get("type")}): begin={begin} is not before '
                             f'end={end} (MMEngine refuses it when the scheduler is built). '
                             'Fix begin/end, or shorten the run with --iters/--epochs, which '
                             'scales them together.')
        if _freezes_at_its_start(scheduler):
            raise ValueError(
                f'{key} ({scheduler.get("type")}) spans one {unit} (begin={begin}, end={end}): '
                'MMEngine steps a scheduler only before its end, so it never leaves its start '
                'factor and the value stays scaled by it for the whole run. Set '
                f'end >= {begin + _MIN_SPAN}, or remove the scheduler.')
        if isinstance(length, int) and bool(scheduler.get('by_epoch', True)) == by_epoch \
                and begin >= length:
            raise ValueError(f'{key} ({scheduler.get("type")}) begins at {unit} {begin}, '
                             f'after training ends ({length} {unit}s), so it never runs. Fix '
                             f'its begin, or shorten the run with --iters/--epochs, which '
                             'scales the schedule.')
