# Copyright (c) mmhybrid contributors. All rights reserved.
"""Test harness: shrink any mmseg / mmdet / mmpretrain config to a one-step smoke run on tiny
data.

It lives with the tests, not in the package: importing it registers :class:`SmokeStopHook` into
MMEngine's root ``HOOKS`` registry, which no user of ``mmhybrid`` should get. ``tests/conftest.py``
puts ``tests/`` on ``sys.path``, so tests write ``from smoke import make_smoke_config``.

:func:`make_smoke_config` rewrites a full training config generically, without knowing the model:
every dataloader points at the matching tiny dataset of :mod:`mmhybrid.testing.tiny_datasets`, image
sizes in pipelines / data preprocessors / sliding-window inference shrink by one common factor (so a
512 crop becomes 64 px and the ratios between sizes survive), training stops after one iteration
(:class:`SmokeStopHook`; the configured schedule itself is kept and built), one validation pass
follows, SyncBN becomes BN, pretrained checkpoints and checkpoint saving are dropped.
:func:`run_smoke_training` then builds the ``Runner``, trains, and returns the losses seen and
the metrics of the one validation pass.

Example:
    >>> from mmhybrid.testing import make_all
    >>> from smoke import make_smoke_config, run_smoke_training
    >>> roots = make_all('/tmp/tiny', num_train=4, num_val=2)
    >>> cfg = make_smoke_config('configs/topformer/xxx.py', roots, '/tmp/work')
    >>> result = run_smoke_training(cfg)
    >>> result.losses  # one float per training iteration
    [5.98...]
"""
import copy
import logging
import os.path as osp
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mmhybrid.utils.config import replace_sync_bn

__all__ = [
    'make_smoke_config', 'write_training_config', 'run_smoke_training', 'SmokeResult',
    'SmokeStopHook', 'TINY_SIZES'
]

#: Shortest side the main training size is shrunk to, per task (default scope).
TINY_SIZES = dict(mmseg=64, mmdet=96, mmpretrain=64)

# Sub-folders that :func:`mmhybrid.testing.make_all` creates under its ``root``.
_DEFAULT_SUBDIRS = dict(
    ade20k='ADEChallengeData2016',
    cityscapes='cityscapes',
    pascal_context='VOCdevkit/VOC2010',
    coco_stuff10k='coco_stuff10k',
    coco_stuff164k='coco_stuff164k',
    coco='coco',
    imagenet='imagenet')

# Keys of transform / preprocessor dicts that hold image sizes in pixels.
_SIZE_KEYS = ('scale', 'img_scale', 'crop_size', 'scales', 'size', 'max_size', 'border',
              'random_size_range')
_DATALOADERS = dict(
    train_dataloader='train', val_dataloader='val', test_dataloader='val')


def _plain_type(cfg: Mapping) -> str:
    """``'mmseg.ADE20KDataset'`` or a class → ``'ADE20KDataset'``."""
    type_ = cfg.get('type', '')
    if not isinstance(type_, str):
        type_ = getattr(type_, '__name__', str(type_))
    return type_.rsplit('.', 1)[-1]


# ----------------------------------------------------------------------------------------------
# Datasets
# ----------------------------------------------------------------------------------------------
def _seg_fields(root: str, img: str, seg: str, ann_file: str = '') -> dict:
    return dict(data_root=root, data_prefix=dict(img_path=img, seg_map_path=seg),
                ann_file=ann_file)


def _tiny_fields(dataset: Mapping, split: str, roots: Mapping[str, str]) -> dict:
    """The keys that make ``dataset`` read the ``split`` of its tiny counterpart."""
    type_ = _plain_type(dataset)
    ade_split = 'training' if split == 'train' else 'validation'
    if type_ == 'ADE20KDataset':
        return _seg_fields(roots['ade20k'], f'images/{ade_split}', f'annotations/{ade_split}')
    if type_ == 'CityscapesDataset':
        return _seg_fields(roots['cityscapes'], f'leftImg8bit/{split}', f'gtFine/{split}')
    if type_ in ('PascalContextDataset', 'PascalContextDataset59'):
        return _seg_fields(roots['pascal_context'], 'JPEGImages', 'SegmentationClassContext',
                           f'ImageSets/SegmentationContext/{split}.txt')
    if type_ == 'COCOStuffDataset':
        # the 10k release stores 0 = unlabeled (reduce_zero_label=True), 164k stores 255
        if dataset.get('reduce_zero_label', False):
            folder = 'train2014' if split == 'train' else 'test2014'
            return _seg_fields(roots['coco_stuff10k'], f'images/{folder}',
                               f'annotations/{folder}')
        return _seg_fields(roots['coco_stuff164k'], f'images/{split}2017',
                           f'annotations/{split}2017')
    if type_ == 'CocoDataset':
        return dict(
            data_root=roots['coco'].rstrip('/') + '/',
            ann_file=f'annotations/instances_{split}2017.json',
            data_prefix=dict(img=f'{split}2017/'))
    if type_ == 'ImageNet':
        return dict(
            data_root=roots['imagenet'], split='', data_prefix=split,
            ann_file=f'meta/{split}.txt')
    raise ValueError(
        f'make_smoke_config: no tiny dataset for dataset type {type_!r}. Supported: '
        'ADE20KDataset, CityscapesDataset, PascalContextDataset(59), COCOStuffDataset, '
        'CocoDataset, ImageNet (wrapped in RepeatDataset/ClassBalancedDataset/ConcatDataset '
        'or not); add a maker to a task module of mmhybrid/testing/tiny_datasets/, list it in '
        'its all_datasets.py, and add a branch to tests/smoke.py.')


def _shrink_dataset(dataset: dict, split: str, roots: Mapping[str, str],
                    num_images: int) -> None:
    """Point ``dataset`` (possibly a wrapper) at tiny data and keep ``num_images`` samples."""
    type_ = _plain_type(dataset)
    if type_ == 'ConcatDataset':
        for sub in dataset['datasets']:
            _shrink_dataset(sub, split, roots, num_images)
        return
    if 'dataset' in dataset and type_ != 'ImageNet':  # RepeatDataset, ClassBalancedDataset, ...
        if 'times' in dataset:
            dataset['times'] = 1
        _shrink_dataset(dataset['dataset'], split, roots, num_images)
        return
    for key, value in _tiny_fields(dataset, split, roots).items():
        if key == 'split' and not value:
            dataset.pop('split', None)
        else:
            dataset[key] = value
    dataset['indices'] = num_images
    dataset.pop('lazy_init', None)


# ----------------------------------------------------------------------------------------------
# Image sizes
# ----------------------------------------------------------------------------------------------
def _scale_size(value: Any, factor: float) -> Any:
    """Scale the pixel counts (ints) in ``value``; -1 ("keep ratio") and floats stay."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if value == -1:
            return value
        scaled = int(round(value * factor))
        return max(1, scaled) if value > 0 else scaled
    if isinstance(value, (list, tuple)):
        return type(value)(_scale_size(v, factor) for v in value)
    return value


def _scale_sizes_in(node: Any, factor: float, keys=_SIZE_KEYS) -> None:
    """Scale every size-like key of every dict nested in ``node`` (pipelines, preprocessors)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in keys and not isinstance(value, (dict, str)):
                node[key] = _scale_size(value, factor)
            else:
                _scale_sizes_in(value, factor, keys)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _scale_sizes_in(item, factor, keys)


def _short_side(value: Any) -> Optional[int]:
    """Shortest positive pixel count in an int / tuple / list of tuples (largest over a list)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, (list, tuple)) and value:
        if all(isinstance(v, (list, tuple)) for v in value):
            sides = [s for s in map(_short_side, value) if s]
            return max(sides) if sides else None
        sides = [v for v in value if isinstance(v, int) and not isinstance(v, bool) and v > 0]
        return min(sides) if sides else None
    return None


def _iter_transforms(node: Any):
    if isinstance(node, dict):
        if 'type' in node:
            yield node
        for value in node.values():
            yield from _iter_transforms(value)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _iter_transforms(item)


def _reference_size(cfg: Config, scope: str) -> Optional[int]:
    """The size (shortest side, px) that the training recipe is built around."""
    pipeline = cfg.get('train_dataloader', {}) or {}
    transforms = list(_iter_transforms(pipeline))
    if scope == 'mmseg':
        candidates = [t.get('crop_size') for t in transforms if 'crop_size' in t]
        model = cfg.get('model') or {}
        candidates.append((model.get('data_preprocessor') or {}).get('size'))
    elif scope == 'mmdet':
        candidates = [t.get(k) for t in transforms for k in ('scale', 'img_scale', 'scales')
                      if k in t]
    else:
        # RandomResizedCrop(scale=224) / CenterCrop(crop_size=224) first, else a Resize
        candidates = [t.get('scale', t.get('crop_size')) for t in transforms
                      if 'Crop' in _plain_type(t)]
        candidates += [t.get('scale') for t in transforms if 'Resize' in _plain_type(t)]
    for candidate in candidates:
        side = _short_side(candidate)
        if side:
            return side
    return None


# ----------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------
def _is_pretrained(init_cfg: Any) -> bool:
    return isinstance(init_cfg, Mapping) and _plain_type(init_cfg) == 'Pretrained'


def _strip_pretrained(node: Any) -> None:
    """Drop ``Pretrained`` init_cfgs and ``pretrained`` paths, in place."""
    if isinstance(node, dict):
        if isinstance(node.get('pretrained'), str):
            node['pretrained'] = None
        elif node.get('pretrained') is True:  # e.g. TIMMBackbone: would download weights
            node['pretrained'] = False
        init_cfg = node.get('init_cfg')
        if _is_pretrained(init_cfg):
            node['init_cfg'] = None
        elif isinstance(init_cfg, (list, tuple)):
            kept = [c for c in init_cfg if not _is_pretrained(c)]
            node['init_cfg'] = kept or None
        for value in node.values():
            _strip_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _strip_pretrained(item)


def _strip_model(node: Any) -> None:
    """SyncBN → BN, drop ``Pretrained`` init_cfgs and ``pretrained`` paths, in place."""
    replace_sync_bn(node)
    _strip_pretrained(node)


def _zero_score_thresholds(node: Any) -> None:
    """Set every ``score_thr`` in a (nested) detector ``test_cfg`` to 0, in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'score_thr' and isinstance(value, (int, float)):
                node[key] = 0.
            else:
                _zero_score_thresholds(value)


#: Caps on the number of boxes a detector handles per image; the defaults (1000 proposals,
#: 512 sampled RoIs, 100 detections with masks) make a CPU step take tens of seconds.
_DETECTION_CAPS = dict(nms_pre=200, max_per_img=50, num=64)


def _cap_detection_sampling(node: Any) -> None:
    """Cap proposal / sampling / detection counts in a detector's ``train_cfg`` / ``test_cfg``."""
    if isinstance(node, dict):
        for key, value in node.items():
            is_count = isinstance(value, int) and not isinstance(value, bool) and value > 0
            if is_count and key in _DETECTION_CAPS and (key != 'num' or 'Sampler' in _plain_type(
                    node)):
                node[key] = min(value, _DETECTION_CAPS[key])
            else:
                _cap_detection_sampling(value)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _cap_detection_sampling(item)


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------
def make_smoke_config(cfg_or_path: Union[str, Config],
                      data_roots: Union[str, Mapping[str, str]],
                      work_dir: str,
                      train_batch_size: int = 2,
                      with_val: bool = True,
                      tiny_size: Optional[int] = None) -> Config:
    """Shrink a full training config to one iteration on the tiny datasets.

    Args:
        cfg_or_path (str | Config): Any mmseg / mmdet / mmpretrain config; its
            ``default_scope`` selects the sizes (``TINY_SIZES``).
        data_roots (str | Mapping[str, str]): The ``root`` given to
            :func:`mmhybrid.testing.make_all`, or the mapping it returned.
        work_dir (str): Where the run writes its logs.
        train_batch_size (int): Images per training batch. Defaults to 2, not 1: BN layers in
            training mode refuse a batch of one 1x1 map (after global pooling), which is an
            artefact of the smoke run, not a config bug.
        with_val (bool): Keep one validation pass over one tiny val image after the training
            iteration, which proves the evaluation path (metric, ann_file). Defaults to True.
        tiny_size (int, optional): Override the shortest side of the training size.

    Returns:
        Config: a new config; ``cfg_or_path`` is left untouched.

    Raises:
        ValueError: a dataloader uses a dataset type with no tiny counterpart.
    """
    cfg = Config.fromfile(cfg_or_path) if isinstance(cfg_or_path, str) else copy.deepcopy(
        cfg_or_path)
    if isinstance(data_roots, str):
        data_roots = {k: osp.join(data_roots, v) for k, v in _DEFAULT_SUBDIRS.items()}
    scope = cfg.get('default_scope') or 'mmengine'
    if scope not in TINY_SIZES:
        raise ValueError(f'make_smoke_config: default_scope {scope!r} is not one of '
                         f'{sorted(TINY_SIZES)}; inherit the runtime of mmseg/mmdet/mmpretrain.')

    reference = _reference_size(cfg, scope)
    factor = (tiny_size or TINY_SIZES[scope]) / reference if reference else 0.125
    factor = min(factor, 1.0)

    # ---- data --------------------------------------------------------------------------------
    done = set()  # test_dataloader may be the very object of val_dataloader: shrink it once
    for key, split in _DATALOADERS.items():
        loader = cfg.get(key)
        if not loader or id(loader) in done:
            continue
        done.add(id(loader))
        is_train = key == 'train_dataloader'
        loader['batch_size'] = train_batch_size if is_train else 1
        loader['num_workers'] = 0
        loader['persistent_workers'] = False
        loader.pop('prefetch_factor', None)
        loader['pin_memory'] = False
        _shrink_dataset(loader['dataset'], split, data_roots,
                        num_images=train_batch_size if is_train else 1)
        _scale_sizes_in(loader['dataset'], factor)
    for key in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg.get(key)
        for evaluator in (evaluators if isinstance(evaluators, list) else [evaluators]):
            if isinstance(evaluator, dict) and 'ann_file' in evaluator:
                evaluator['ann_file'] = osp.join(data_roots['coco'], 'annotations',
                                                 'instances_val2017.json')
                evaluator['format_only'] = False
                evaluator.pop('outfile_prefix', None)

    # ---- model -------------------------------------------------------------------------------
    model = cfg.get('model')
    if model is not None:
        _strip_model(model)
        if model.get('data_preprocessor'):
            _scale_sizes_in(model['data_preprocessor'], factor)
        test_cfg = model.get('test_cfg')
        if isinstance(test_cfg, dict) and test_cfg.get('mode') == 'slide':
            _scale_sizes_in(test_cfg, factor, keys=('crop_size', 'stride'))
        if scope == 'mmdet':
            _cap_detection_sampling([model.get('train_cfg'), model.get('test_cfg')])
        # A detector after one step from random init may score every box below the usual 0.05,
        # leaving the evaluator nothing to measure: keep all boxes.
        _zero_score_thresholds(test_cfg)
    cfg.pop('sync_bn', None)
    cfg.load_from = None
    cfg.resume = False

    # ---- schedule ----------------------------------------------------------------------------
    # The schedule (max_iters / max_epochs, param_scheduler) stays as configured, so a scheduler
    # that contradicts it still fails here; SmokeStopHook ends training after the first
    # iteration, and a validation pass follows it.
    train_cfg = cfg.get('train_cfg')
    if train_cfg is not None:
        train_cfg.pop('dynamic_intervals', None)
        train_cfg['val_interval'] = 1
        if 'val_begin' in train_cfg:
            train_cfg['val_begin'] = 1
    custom_hooks = [h for h in cfg.get('custom_hooks', None) or []
                    if _plain_type(h) != 'SmokeStopHook']
    cfg.custom_hooks = custom_hooks + [dict(type='SmokeStopHook', num_iters=1)]
    if not with_val:
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    optim_wrapper = cfg.get('optim_wrapper')
    if isinstance(optim_wrapper, dict) and _plain_type(optim_wrapper) == 'AmpOptimWrapper':
        optim_wrapper['type'] = 'OptimWrapper'  # AMP needs a GPU
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            optim_wrapper.pop(key, None)

    # ---- runtime -----------------------------------------------------------------------------
    default_hooks = cfg.get('default_hooks') or {}
    default_hooks['checkpoint'] = None  # no checkpoint files: fast, and nothing to reload
    if default_hooks.get('logger'):
        default_hooks['logger']['interval'] = 1
    cfg.default_hooks = default_hooks
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    cfg.randomness = dict(seed=0)
    env_cfg = cfg.get('env_cfg') or {}
    env_cfg['cudnn_benchmark'] = False
    cfg.env_cfg = env_cfg
    # Runner-global singletons (logger, visualizer, message hub) are keyed by these names; make
    # them unique so that many smoke runs in one process never share or clash.
    stem = osp.splitext(osp.basename(cfg.filename or 'config'))[0]
    cfg.experiment_name = f'smoke_{stem}_{uuid.uuid4().hex[:8]}'
    if cfg.get('visualizer'):
        cfg.visualizer.pop('name', None)
    # The Runner prints and dumps the config several times; formatting it with yapf costs ~0.5 s
    # each, more than the training step itself.
    object.__setattr__(cfg, '_format_python_code', False)
    return cfg


@HOOKS.register_module()
class SmokeStopHook(Hook):
    """Stops training after ``num_iters`` iterations, whatever the loop (iteration- or
    epoch-based) and its configured length; the loop still runs its validation for that
    epoch / iteration when ``val_interval`` is 1.

    Registered in MMEngine's root ``HOOKS``, so every downstream scope finds it.

    Args:
        num_iters (int): Training iterations to run. Defaults to 1.
    """
    priority = 'VERY_LOW'

    def __init__(self, num_iters: int = 1) -> None:
        if num_iters < 1:
            raise ValueError(f'num_iters must be >= 1, got {num_iters}')
        self.num_iters = num_iters

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 >= self.num_iters:  # runner.iter counts from 0 and is not yet bumped
            runner.train_loop.stop_training = True


@dataclass
class SmokeResult:
    """What a smoke run produced: the total loss of each training iteration and the metrics
    of the validation pass (``None`` when no validation ran)."""
    losses: List[float] = field(default_factory=list)
    val_metrics: Optional[Dict[str, Any]] = None


class _SmokeRecorder(Hook):
    """Collects ``outputs['loss']`` after every training iteration and the val metrics."""
    priority = 'LOWEST'

    def __init__(self) -> None:
        self.result = SmokeResult()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if outputs is None or 'loss' not in outputs:
            raise RuntimeError('the model returned no "loss" from train_step')
        loss = outputs['loss']
        self.result.losses.append(float(loss.detach() if hasattr(loss, 'detach') else loss))

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.result.val_metrics = dict(metrics or {})


def write_training_config(path, config: str, ade_root: str, work_dir, max_iters: int,
                          checkpoint_interval: int = 1, **options) -> str:
    """Dump a smoke config of ``config`` on the tiny ADE20K set that trains for real:
    ``max_iters`` iterations (no :class:`SmokeStopHook`), no validation, a ``CheckpointHook``
    every ``checkpoint_interval`` iterations; ``options`` are merged last. Returns the path."""
    cfg = make_smoke_config(config, {'ade20k': ade_root}, str(work_dir), with_val=False)
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'SmokeStopHook']
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10**6)
    cfg.default_hooks['checkpoint'] = dict(type='CheckpointHook', by_epoch=False,
                                           interval=checkpoint_interval)
    cfg.merge_from_dict(options)
    cfg.dump(str(path))
    return str(path)


def run_smoke_training(cfg: Config,
                       before_train: Optional[Callable[[Any], None]] = None) -> SmokeResult:
    """Build a ``Runner`` from a (smoke) config, train it and report losses and val metrics.

    Any SyncBN layer hard-wired inside a module is reverted to BN after building, so the run
    works on a CPU without a process group. The runner's log file handlers are closed at the end.

    Args:
        cfg (Config): Typically the output of :func:`make_smoke_config`.
        before_train (callable, optional): Called with the runner right before ``train()``.

    Returns:
        SmokeResult: the loss of every training iteration and the validation metrics.
    """
    from mmengine.model import revert_sync_batchnorm
    from mmengine.runner import Runner

    runner = Runner.from_cfg(cfg)
    try:
        runner.model = revert_sync_batchnorm(runner.model)
        recorder = _SmokeRecorder()
        runner.register_hook(recorder)
        if before_train is not None:
            before_train(runner)
        runner.train()
        return recorder.result
    finally:
        for handler in list(runner.logger.handlers):
            if isinstance(handler, logging.FileHandler):
                handler.close()
                runner.logger.removeHandler(handler)
