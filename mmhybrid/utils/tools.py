# Copyright (c) mmhybrid contributors. All rights reserved.
"""Helpers shared by ``tools/train.py`` and ``tools/test.py``.

One pair of scripts serves MMDetection, MMSegmentation and MMPretrain configs: the config's
``default_scope`` decides which library's registries, hooks and visualizer are used.
"""
import importlib
import os.path as osp
import warnings
from typing import Optional

from mmengine.config import Config

#: default_scope of a task library -> the mmhybrid extra that installs it.
TASK_SCOPES = {'mmdet': 'det', 'mmseg': 'seg', 'mmpretrain': 'cls'}


def task_scope(cfg: Config) -> str:
    """Return the config's ``default_scope`` and import that library, with a clear error."""
    scope = cfg.get('default_scope', None)
    if scope not in TASK_SCOPES:
        raise ValueError(
            f'default_scope={scope!r} in the config: mmhybrid tools run configs of '
            f'{sorted(TASK_SCOPES)}. Inherit a runtime base such as '
            "'mmseg::_base_/default_runtime.py', or set default_scope explicitly.")
    try:
        importlib.import_module(scope)
    except ImportError as exc:
        raise ImportError(
            f'The config needs {scope} ({exc}). Install it with '
            f'`pip install "mmhybrid[{TASK_SCOPES[scope]}]"` or run `make install`.') from exc
    # Register mmhybrid models (and mirror them) before the Runner builds anything.
    importlib.import_module('mmhybrid.models')
    return scope


def default_work_dir(cfg: Config, config_path: str, work_dir: Optional[str]) -> str:
    """CLI ``--work-dir`` > ``work_dir`` in the config > ``./work_dirs/<config name>``."""
    if work_dir is not None:
        return work_dir
    if cfg.get('work_dir', None) is not None:
        return cfg.work_dir
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def enable_amp(cfg: Config) -> None:
    """Switch the config's ``OptimWrapper`` to ``AmpOptimWrapper`` (``--amp``)."""
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper == 'AmpOptimWrapper':
        return
    if wrapper != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type="OptimWrapper", got {wrapper!r}.')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def enable_visualization(cfg: Config, scope: str, show_dir: Optional[str] = None,
                         show: bool = False, wait_time: float = 2,
                         interval: int = 1) -> None:
    """Turn on the task library's visualization hook so ``tools/test.py`` saves drawings.

    mmseg and mmdet draw with ``draw=True`` (mmseg saves under ``visualizer.save_dir``, mmdet
    under ``<work_dir>/<timestamp>/<test_out_dir>``); mmpretrain uses ``enable`` and ``out_dir``.
    """
    hooks = cfg.get('default_hooks', {})
    if 'visualization' not in hooks:
        raise RuntimeError(
            'The config has no default_hooks.visualization; add the task library\'s '
            'VisualizationHook (inherit its default_runtime.py) to use --show/--show-dir.')
    hook = hooks['visualization']
    if scope == 'mmpretrain':
        hook.update(enable=True, show=show, wait_time=wait_time, interval=interval)
        if show_dir:
            hook['out_dir'] = show_dir
        return
    hook.update(draw=True, interval=interval)
    if show:
        hook.update(show=True, wait_time=wait_time)
    if show_dir:
        if scope == 'mmseg':
            cfg.visualizer['save_dir'] = show_dir
        else:  # mmdet writes to <work_dir>/<timestamp>/<test_out_dir> unless it is absolute
            hook['test_out_dir'] = osp.abspath(show_dir)


def _replace_sync_bn(node) -> int:
    """Rewrite every ``type='SyncBN'`` in a config (sub)tree to ``'BN'``; return the count."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += _replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _replace_sync_bn(value)
    return count


def setup_cpu_distributed(cfg: Config) -> bool:
    """Prepare a ``--launcher pytorch`` run on a machine without CUDA (DDP over gloo).

    MMEngine assumes one GPU per process: it calls ``torch.cuda.set_device``, wraps the model with
    ``device_ids=[LOCAL_RANK]`` and keeps SyncBN, all of which fail on CPU. Here the process group
    is created with the gloo backend, DDP is built without ``device_ids`` and SyncBN becomes BN
    (each process normalises its own batch). Returns whether anything was changed.
    """
    import torch
    import torch.distributed as dist

    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg', None) or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    _replace_sync_bn(cfg.model)
    return True


def use_atomic_checkpoints(cfg: Config) -> bool:
    """Make the config's checkpoint hook :class:`mmhybrid.engine.AtomicCheckpointHook`.

    A stock ``CheckpointHook`` (every OpenMMLab runtime base) is replaced, keeping its
    arguments; a config that already uses the atomic hook is left alone. Returns whether the
    run's checkpoints are written atomically; a custom checkpoint hook type is kept with a
    warning.
    """
    checkpoint_hook = cfg.get('default_hooks', {}).get('checkpoint')
    if checkpoint_hook is None:
        return False
    hook_type = checkpoint_hook.get('type')
    if hook_type in ('mmhybrid.AtomicCheckpointHook', 'AtomicCheckpointHook'):
        return True
    if hook_type not in ('CheckpointHook', 'mmengine.CheckpointHook'):
        warnings.warn(f'default_hooks.checkpoint.type={hook_type!r} is not a CheckpointHook: '
                      'its checkpoints are not written atomically by mmhybrid.')
        return False
    checkpoint_hook['type'] = 'mmhybrid.AtomicCheckpointHook'
    importlib.import_module('mmhybrid.engine')
    return True


def check_runner_model(runner) -> None:
    """Check, before any dataset is built, that the runner's model fits together
    (:func:`mmhybrid.models.utils.check_feature_channels`)."""
    from mmengine.model import is_model_wrapper

    from mmhybrid.models.utils import check_feature_channels
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    check_feature_channels(model)


def prepare_data_checks(cfg: Config) -> None:
    """Cheap checks before the runner starts, and file-naming errors while it runs.

    Every dataset folder the config names must exist and hold images
    (:func:`mmhybrid.datasets.check_dataset_folders`), and every pipeline is wrapped so that a
    sample that fails to load or holds labels outside the classes raises an error naming the
    file (:func:`mmhybrid.datasets.wrap_pipelines_with_error_reports`).
    """
    from mmhybrid.datasets import check_dataset_folders, wrap_pipelines_with_error_reports
    check_dataset_folders(cfg)
    wrap_pipelines_with_error_reports(cfg)


def check_data(cfg: Config, splits=('train', 'val')) -> None:
    """Scan the given splits (``--check-data``): print the counts, raise on any broken file."""
    from mmhybrid.datasets import DatasetError, check_dataset
    report = check_dataset(cfg, splits=splits)
    print(report.format(), flush=True)
    if report.problems:
        raise DatasetError(f'--check-data found {len(report.problems)} problem(s) in the '
                           'dataset (listed above); fix or remove those files first.')
