# Copyright (c) mmhybrid contributors. All rights reserved.
"""The effective training recipe of a merged config, in the terms of ``docs/en/recipes.md``.

A recipe is read from the merged config alone (no model, dataset or runner is built):

* plain keys are dotted paths into the config, with ``[i]`` for list items:
  ``optim_wrapper.optimizer.lr``, ``param_scheduler[0].end``;
* derived keys start with ``@`` (:data:`DERIVED_KEYS`): the number of GPUs that the config's
  name gives (``8xb128`` -> 8; 8 for MMDetection's names, which give none), the total batch,
  the learning rate per image, the training length, the warm-up, the batch augmentations, the
  sampler, the test-time resize and what initialises the backbone.

:func:`config_value` reads either kind; :func:`effective_recipe` gathers the derived ones in the
order ``tools/analysis_tools/print_recipe.py`` prints them. Only ``mmengine.config`` is imported
(lazily) and ``custom_imports`` are not run, so reading a recipe takes a fraction of a second.
"""
import os.path as osp
import re
from typing import Any, Dict, List, Optional, Union

__all__ = ['DERIVED_KEYS', 'MISSING', 'config_value', 'effective_recipe', 'gpus_from_name',
           'load_recipe_config']


class _Missing:
    """A key the config does not have (distinct from a ``None`` value)."""

    def __repr__(self) -> str:
        return 'MISSING'


MISSING = _Missing()
_GPU_BATCH = re.compile(r'(?:^|[_-])(\d+)xb(\d+)(?:[_-]|$)')
_KEY_PART = re.compile(r'([^.\[\]]+)|\[(-?\d+)\]')


def load_recipe_config(path: str):
    """``Config.fromfile(path)`` as a plain ``dict`` (tuples kept), plus ``'_path'``."""
    from mmengine.config import Config

    cfg = Config.fromfile(path, import_custom_modules=False).to_dict()
    cfg['_path'] = path
    return cfg


def gpus_from_name(path: str) -> Optional[int]:
    """The GPU count in an OpenMMLab config name (``..._8xb128_in1k.py`` -> 8), or None."""
    match = _GPU_BATCH.search(osp.splitext(osp.basename(path))[0])
    return int(match.group(1)) if match else None


def _lookup(cfg: Any, key: str) -> Any:
    node = cfg
    for name, index in _KEY_PART.findall(key):
        if name:
            if not isinstance(node, dict) or name not in node:
                return MISSING
            node = node[name]
        else:
            if not isinstance(node, (list, tuple)) or not -len(node) <= int(index) < len(node):
                return MISSING
            node = node[int(index)]
    return node


def _train_pipeline(cfg: dict) -> List[dict]:
    dataset = _lookup(cfg, 'train_dataloader.dataset')
    while isinstance(dataset, dict) and 'pipeline' not in dataset and 'dataset' in dataset:
        dataset = dataset['dataset']  # dataset wrappers (RepeatDataset, ...)
    pipeline = dataset.get('pipeline', []) if isinstance(dataset, dict) else []
    return list(pipeline)


def _test_pipeline(cfg: dict) -> List[dict]:
    pipeline = _lookup(cfg, 'test_dataloader.dataset.pipeline')
    return list(pipeline) if isinstance(pipeline, (list, tuple)) else []


#: GPU count of configs whose name gives none: MMDetection's ``*_1x_coco.py`` configs are written
#: for 8 GPUs x 2 images.
DEFAULT_GPUS = {'mmdet': 8}


def _gpus(cfg: dict) -> Optional[int]:
    gpus = gpus_from_name(cfg.get('_path', ''))
    return gpus if gpus is not None else DEFAULT_GPUS.get(cfg.get('default_scope'))


def _total_batch(cfg: dict) -> Optional[int]:
    gpus, per_gpu = _gpus(cfg), _lookup(cfg, 'train_dataloader.batch_size')
    return gpus * per_gpu if gpus and isinstance(per_gpu, int) else None


def _lr_per_image(cfg: dict) -> Optional[float]:
    lr, total = _lookup(cfg, 'optim_wrapper.optimizer.lr'), _total_batch(cfg)
    return lr / total if isinstance(lr, (int, float)) and total else None


def _train_length(cfg: dict) -> str:
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_iters' in train_cfg:
        return f"{train_cfg['max_iters']} iterations"
    if 'max_epochs' in train_cfg:
        return f"{train_cfg['max_epochs']} epochs"
    return 'unknown'


def _schedulers(cfg: dict) -> List[dict]:
    schedulers = cfg.get('param_scheduler') or []
    return [schedulers] if isinstance(schedulers, dict) else list(schedulers)


def _is_epoch_based(scheduler: dict) -> bool:
    return scheduler.get('by_epoch', True)


def _warmup(cfg: dict) -> str:
    for scheduler in _schedulers(cfg):
        if scheduler.get('type') == 'LinearLR':
            unit = 'epochs' if _is_epoch_based(scheduler) else 'iterations'
            length = scheduler.get('end', 0) - scheduler.get('begin', 0)
            start = scheduler.get('start_factor', 1 / 3)
            return f'{length:g} {unit} linear from {start:.3g} x lr'
    return 'none'


def _decay(cfg: dict) -> str:
    parts = []
    for scheduler in _schedulers(cfg):
        kind = scheduler.get('type', '?')
        if kind == 'LinearLR':
            continue
        unit = 'epoch' if _is_epoch_based(scheduler) else 'iteration'
        span = f"{unit}s {scheduler.get('begin', 0)}-{scheduler.get('end', 'end')}"
        if kind == 'CosineAnnealingLR':
            parts.append(f"cosine to {scheduler.get('eta_min', 0):g} over {span}")
        elif kind == 'PolyLR':
            parts.append(f"poly (power {scheduler.get('power', 1):g}) to "
                         f"{scheduler.get('eta_min', 0):g} over {span}")
        elif kind == 'MultiStepLR':
            parts.append(f"x{scheduler.get('gamma', 0.1):g} at {unit}s "
                         f"{list(scheduler.get('milestones', []))}")
        elif kind == 'StepLR':
            parts.append(f"x{scheduler.get('gamma', 0.1):.6g} every "
                         f"{scheduler.get('step_size', 1)} {unit}(s) over {span}")
        else:
            parts.append(f'{kind} over {span}')
    return '; '.join(parts) or 'constant'


def _optimizer(cfg: dict) -> str:
    optimizer = dict(_lookup(cfg, 'optim_wrapper.optimizer') or {})
    optimizer.pop('_scope_', None)
    kind = optimizer.pop('type', '?')
    args = ', '.join(f'{k}={v}' for k, v in sorted(optimizer.items()))
    return f'{kind}({args})'


def _batch_augments(cfg: dict) -> str:
    augments = _lookup(cfg, 'model.train_cfg.augments')
    if not isinstance(augments, (list, tuple)) or not augments:
        return 'none'
    return ' / '.join(f"{a.get('type')}({a.get('alpha')})" for a in augments)


def _sampler(cfg: dict) -> str:
    sampler = _lookup(cfg, 'train_dataloader.sampler')
    return sampler.get('type', '?') if isinstance(sampler, dict) else 'default'


def _transform_names(pipeline: List[dict]) -> List[str]:
    skip = ('LoadImageFromFile', 'LoadAnnotations', 'PackInputs', 'PackSegInputs',
            'PackDetInputs')
    return [t.get('type', '?') for t in pipeline if t.get('type') not in skip]


def _train_transforms(cfg: dict) -> List[str]:
    return _transform_names(_train_pipeline(cfg))


def _test_resize(cfg: dict) -> List[str]:
    steps = []
    for transform in _test_pipeline(cfg):
        kind = transform.get('type', '')
        if 'Resize' in kind or kind in ('CenterCrop', 'TestTimeAug'):
            args = {k: v for k, v in transform.items() if k not in ('type', 'backend')}
            steps.append(f'{kind}({", ".join(f"{k}={v}" for k, v in args.items())})')
    return steps


def _ema(cfg: dict) -> str:
    for hook in cfg.get('custom_hooks') or []:
        if isinstance(hook, dict) and hook.get('type') == 'EMAHook':
            return f"EMAHook(momentum={hook.get('momentum', 0.0002):g})"
    return 'none'


def _checkpoints_of(init_cfg: Any) -> List[str]:
    configs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return [c['checkpoint'] for c in configs
            if isinstance(c, dict) and c.get('type') == 'Pretrained' and c.get('checkpoint')]


def _backbone_init(cfg: dict) -> str:
    checkpoints = _checkpoints_of(_lookup(cfg, 'model.backbone.init_cfg'))
    pretrained = _lookup(cfg, 'model.pretrained')
    if isinstance(pretrained, str) and pretrained:
        checkpoints.append(pretrained)
    checkpoints += _checkpoints_of(_lookup(cfg, 'model.init_cfg'))
    load_from = cfg.get('load_from')
    if load_from:
        checkpoints.append(f'load_from {load_from}')
    return ', '.join(checkpoints) if checkpoints else 'random initialisation'


def _backbone_init_source(cfg: dict) -> str:
    """What kind of file initialises the backbone, independent of the variant: an ImageNet run
    of this project (``work_dirs/``), the authors' converted weights (``checkpoints/``), another
    library's weights (a URL) or nothing."""
    init = _backbone_init(cfg)
    if init == 'random initialisation':
        return init
    if init.startswith('work_dirs/'):
        return 'ImageNet run of this project (work_dirs/)'
    if init.startswith('checkpoints/'):
        return "authors' weights, converted (checkpoints/)"
    return 'downloaded weights'


#: ``@key`` -> (label printed by print_recipe.py, function of the merged config dict).
DERIVED_KEYS: Dict[str, tuple] = {
    '@gpus': ('GPUs (from the name)', _gpus),
    '@total_batch': ('total batch', _total_batch),
    '@optimizer': ('optimizer', _optimizer),
    '@lr_per_image': ('lr per image', _lr_per_image),
    '@train_length': ('training length', _train_length),
    '@warmup': ('warm-up', _warmup),
    '@decay': ('schedule after warm-up', _decay),
    '@train_transforms': ('train augmentation', _train_transforms),
    '@batch_augments': ('batch augmentation', _batch_augments),
    '@sampler': ('sampler', _sampler),
    '@ema': ('EMA', _ema),
    '@test_resize': ('test-time resize', _test_resize),
    '@backbone_init': ('backbone initialised from', _backbone_init),
    '@backbone_init_source': ('backbone weights are', _backbone_init_source),
}
#: Plain keys print_recipe.py shows after the derived ones (when the config has them).
PRINTED_KEYS = ('train_dataloader.batch_size', 'optim_wrapper.paramwise_cfg',
                'optim_wrapper.clip_grad', 'optim_wrapper.type', 'model.backbone.drop_path_rate',
                'model.backbone.norm_cfg', 'model.backbone.norm_eval',
                'model.backbone.frozen_stages', 'model.head.loss', 'model.head.dropout_rate',
                'model.decode_head.loss_decode', 'auto_scale_lr')


def config_value(cfg: dict, key: str) -> Any:
    """The value of a plain dotted key or a derived ``@key`` in a merged config dict
    (:func:`load_recipe_config`); :data:`MISSING` where the config has no such key.

    Raises:
        KeyError: an unknown ``@key``.
    """
    if key.startswith('@'):
        if key not in DERIVED_KEYS:
            raise KeyError(f'unknown derived key {key!r}; known: {sorted(DERIVED_KEYS)}')
        return DERIVED_KEYS[key][1](cfg)
    return _lookup(cfg, key)


def effective_recipe(cfg: Union[dict, str]) -> Dict[str, Any]:
    """Every derived value, then the :data:`PRINTED_KEYS` the config has, label -> value."""
    if isinstance(cfg, str):
        cfg = load_recipe_config(cfg)
    recipe: Dict[str, Any] = {}
    for label, read in DERIVED_KEYS.values():
        recipe[label] = read(cfg)
    for key in PRINTED_KEYS:
        value = _lookup(cfg, key)
        if value is not MISSING:
            recipe[key] = value
    return recipe
