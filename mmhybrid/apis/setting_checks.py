# Copyright (c) mmhybrid contributors. All rights reserved.
"""Settings that MMEngine accepts at build time and fails on much later, checked up front.

With the real intervals, a misspelt checkpoint-hook key fails at the first save and a
``save_best`` metric spelt with the wrong case at the first validation: thousands of
iterations in, with no checkpoint written. ``tools/train.py`` calls :func:`check_hook_settings`
before the runner is built:

* every hook's arguments (``default_hooks`` and ``custom_hooks``) against the hook class's
  signature, following ``**kwargs`` to the base classes that receive them
  (``CheckpointHook`` passes its ``**kwargs`` to ``Runner.save_checkpoint``, which the hook
  already fills completely, so any extra key there is an error);
* the checkpoint hook's ``save_best`` against the metric names the config's ``val_evaluator``
  produces (:func:`evaluator_metric_names`) and ``rule`` against MMEngine's rules.

Errors name the config key, say "did you mean" where a valid name is close, and list the
valid names.
"""
import difflib
import importlib
import inspect
from typing import Iterator, List, Optional, Sequence, Set, Tuple

from mmengine.config import Config

from mmhybrid.utils.config import evaluator_metrics

__all__ = [
    'check_hook_arguments', 'check_hook_settings', 'check_save_best', 'evaluator_metric_names',
    'hook_arguments'
]

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
#: Keys of a hook config that MMEngine's runner and registry consume themselves.
_BUILD_KEYS = ('type', 'priority', '_scope_')

#: mmseg ``IoUMetric.iou_metrics`` entry -> the metric names it adds (besides ``aAcc``).
_IOU_METRIC_NAMES = {
    'mIoU': ('mIoU', 'mAcc'),
    'mDice': ('mDice', 'mAcc'),
    'mFscore': ('mFscore', 'mPrecision', 'mRecall'),
}
#: mmdet ``CocoMetric`` default ``metric_items`` of the bbox and segm metrics.
_COCO_ITEMS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')
_COCO_PROPOSAL_ITEMS = ('AR@100', 'AR@300', 'AR@1000', 'AR_s@1000', 'AR_m@1000', 'AR_l@1000')


def _suggest(wanted: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(wanted, list(valid), n=1, cutoff=0.6)
    if not close:
        lowered = {name.lower(): name for name in valid}
        close = [lowered[wanted.lower()]] if wanted.lower() in lowered else []
    return f'; did you mean {close[0]!r}?' if close else ''


def hook_arguments(hook_class: type) -> Optional[Set[str]]:
    """The keyword arguments ``hook_class(...)`` accepts, or ``None`` when it takes any.

    ``**kwargs`` are followed up the class hierarchy to the base class that receives them;
    ``CheckpointHook``'s end in ``Runner.save_checkpoint``, whose arguments the hook already
    passes, so none is left. A class whose ``**kwargs`` go elsewhere (``EMAHook`` passes them
    to the EMA model) accepts anything here.
    """
    from mmengine.hooks import CheckpointHook

    names: Set[str] = set()
    classes = [klass for klass in hook_class.__mro__
               if klass is not object and '__init__' in klass.__dict__]
    for index, klass in enumerate(classes):
        parameters = inspect.signature(klass.__dict__['__init__']).parameters
        names |= {name for name, p in parameters.items() if p.kind in _NAMED and name != 'self'}
        takes_more = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        if not takes_more or klass is CheckpointHook:
            return names
        if index == len(classes) - 1:  # **kwargs go elsewhere (EMAHook: to the EMA model)
            return None
    return names


def _hook_configs(cfg: Config) -> Iterator[Tuple[str, dict]]:
    for name, hook in (cfg.get('default_hooks', None) or {}).items():
        if isinstance(hook, dict):
            yield f'default_hooks.{name}', hook
    for index, hook in enumerate(cfg.get('custom_hooks', None) or []):
        if isinstance(hook, dict):
            yield f'custom_hooks[{index}]', hook


def _hook_class(scope: str, hook_type) -> Optional[type]:
    if isinstance(hook_type, type):
        return hook_type
    registry = importlib.import_module(f'{scope}.registry').HOOKS
    return registry.get(hook_type)


def check_hook_arguments(cfg: Config, scope: str) -> None:
    """Raise ``TypeError`` naming the config key of a hook argument the hook does not take.

    Unknown hook types are left to the runner (whose error ``build_runner`` completes with a
    registered name).
    """
    for key, hook in _hook_configs(cfg):
        hook_class = _hook_class(scope, hook.get('type'))
        if hook_class is None:
            continue
        accepted = hook_arguments(hook_class)
        if accepted is None:
            continue
        for argument in hook:
            if argument not in _BUILD_KEYS and argument not in accepted:
                raise TypeError(
                    f'{key}.{argument}: {hook_class.__name__} has no argument {argument!r}'
                    f'{_suggest(argument, sorted(accepted))} It takes '
                    f'{sorted(accepted)}. Fix or remove it (with the hook as it is, it would '
                    'fail only when the hook first uses it, e.g. at the first save).')


def _metric_names(metric: dict) -> Optional[List[str]]:
    """Names one evaluator metric config produces, without its prefix; ``None``: unknown."""
    metric_type = str(metric.get('type', '')).rsplit('.', 1)[-1]
    if metric_type == 'IoUMetric':
        iou_metrics = metric.get('iou_metrics', ['mIoU'])
        iou_metrics = [iou_metrics] if isinstance(iou_metrics, str) else list(iou_metrics)
        if not set(iou_metrics) <= set(_IOU_METRIC_NAMES):
            return None
        names = ['aAcc']
        for entry in iou_metrics:
            names += [n for n in _IOU_METRIC_NAMES[entry] if n not in names]
        return names
    if metric_type == 'CocoMetric':
        kinds = metric.get('metric', 'bbox')
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        names = []
        for kind in kinds:
            if kind in ('bbox', 'segm'):
                items = metric.get('metric_items') or _COCO_ITEMS
            elif kind == 'proposal':
                items = metric.get('metric_items') or _COCO_PROPOSAL_ITEMS
            else:
                return None
            names += [f'{kind}_{item}' for item in items]
        return names
    if metric_type == 'Accuracy':
        topk = metric.get('topk', (1, ))
        topk = [topk] if isinstance(topk, int) else list(topk)
        thrs = metric.get('thrs', 0.)
        thrs = [thrs] if thrs is None or isinstance(thrs, (int, float)) else list(thrs)
        names = []
        for k in topk:
            for thr in thrs:
                suffix = '' if len(thrs) == 1 else (
                    '_no-thr' if thr is None else f'_thr-{thr:.2f}')
                names.append(f'top{k}{suffix}')
        return names
    return None


_DEFAULT_PREFIXES = {'CocoMetric': 'coco', 'Accuracy': 'accuracy'}


def evaluator_metric_names(evaluator) -> Tuple[List[str], List[str]]:
    """The metric names (as ``save_best`` and the logs see them) an evaluator config produces.

    Returns:
        tuple: the names, and the metric types whose names are not known here (their names
        are not included).
    """
    names, unknown = [], []
    for metric in evaluator_metrics(evaluator):
        produced = _metric_names(metric)
        metric_type = str(metric.get('type', '')).rsplit('.', 1)[-1]
        if produced is None:
            unknown.append(metric_type)
            continue
        prefix = metric.get('prefix') or _DEFAULT_PREFIXES.get(metric_type)
        names += [f'{prefix}/{name}' if prefix else name for name in produced]
    return names, unknown


def check_save_best(cfg: Config) -> Optional[str]:
    """Check the checkpoint hook's ``save_best`` and ``rule`` before training.

    Returns:
        str or None: a note when ``save_best`` could not be checked (an evaluator whose metric
        names are not known here), else ``None``.

    Raises:
        ValueError: ``save_best`` names a metric the evaluator does not produce, ``rule`` is
            not 'greater'/'less', or there is no validation to pick a best checkpoint from.
    """
    hook = (cfg.get('default_hooks', None) or {}).get('checkpoint', None)
    if not isinstance(hook, dict) or not hook.get('save_best'):
        return None
    save_best = hook['save_best']
    save_best = [save_best] if isinstance(save_best, str) else list(save_best)
    rules = hook.get('rule', None)
    for rule in rules if isinstance(rules, (list, tuple)) else [rules]:
        if rule not in (None, 'greater', 'less'):
            raise ValueError(f'default_hooks.checkpoint.rule={rule!r}: choose \'greater\', '
                             '\'less\' or None (inferred from the metric name).')
    evaluator = cfg.get('val_evaluator', None)
    if not evaluator or not cfg.get('val_dataloader', None) or not cfg.get('val_cfg', None):
        raise ValueError(f'default_hooks.checkpoint.save_best={hook["save_best"]!r} needs a '
                         'validation (val_dataloader, val_evaluator and val_cfg); this config '
                         'has none, so no best checkpoint would ever be saved.')
    names, unknown = evaluator_metric_names(evaluator)
    wanted = [key for key in save_best if key != 'auto']
    if unknown:
        return (f'default_hooks.checkpoint.save_best={hook["save_best"]!r} was not checked: '
                f'mmhybrid does not know the metric names of {unknown}.')
    for key in wanted:
        if key not in names:
            raise ValueError(
                f'default_hooks.checkpoint.save_best={key!r} is not a metric the val_evaluator '
                f'produces{_suggest(key, names)} Its metrics are {names}. (MMEngine would '
                'accept it and fail at the first validation.)')
    return None


def check_hook_settings(cfg: Config, scope: str) -> Optional[str]:
    """:func:`check_hook_arguments` and :func:`check_save_best`; returns the latter's note."""
    check_hook_arguments(cfg, scope)
    return check_save_best(cfg)

