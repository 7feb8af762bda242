# Copyright (c) mmhybrid contributors. All rights reserved.
"""Runner set-up shared by ``tools/train.py`` and ``tools/test.py`` (command-line glue).

One pair of scripts serves MMDetection, MMSegmentation and MMPretrain configs: the config's
``default_scope`` decides which library's registries, hooks and visualizer are used.

This module sits in the layer above :mod:`mmhybrid.models`, :mod:`mmhybrid.datasets` and
:mod:`mmhybrid.engine` (it imports them to prepare a run); :mod:`mmhybrid.utils` below them
imports none of them (``tests/test_layering.py``).
"""
import difflib
import importlib
import os.path as osp
import re
import warnings
from typing import List, Optional

from mmengine.config import Config

from mmhybrid.utils.checkpoint import allow_mmengine_checkpoints
from mmhybrid.utils.config import evaluator_metrics, replace_sync_bn


def default_work_dir(cfg: Config, config_path: str, work_dir: Optional[str]) -> str:
    """CLI ``--work-dir`` > ``work_dir`` in the config > ``./work_dirs/<config name>``."""
    if work_dir is not None:
        return work_dir
    if cfg.get('work_dir', None) is not None:
        return cfg.work_dir
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def enable_amp(cfg: Config, cuda_available: Optional[bool] = None) -> None:
    """Switch the config's ``OptimWrapper`` to ``AmpOptimWrapper`` (``--amp``).

    MMEngine's ``AmpOptimWrapper`` (float16 autocast with loss scaling) runs on GPUs only and
    would fail after the runner has built everything, so a machine without CUDA is refused
    here, in one line. (MMEngine 0.10 offers no CPU bfloat16 wrapper.)
    """
    if cuda_available is None:
        import torch
        cuda_available = torch.cuda.is_available()
    if not cuda_available:
        raise ValueError('--amp needs a CUDA GPU (MMEngine\'s AmpOptimWrapper is GPU-only) and '
                         'this machine has none; train in float32 without --amp.')
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
    replace_sync_bn(cfg.model)
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


def use_divergence_guard(cfg: Config) -> Optional[dict]:
    """Add :class:`mmhybrid.DivergenceGuardHook` to the run (``tools/train.py`` does for every
    run): a non-finite loss or weight stops training, naming the iteration, before a
    checkpoint of the diverged model is written.

    The config key ``divergence_guard`` tunes it (a dict of the hook's arguments) or turns it
    off (``False``); a config that lists the hook itself is left alone. Returns the hook's
    settings, or ``None`` when no guard was added.
    """
    setting = cfg.get('divergence_guard', True)
    if setting is False or setting is None:
        return None
    if setting is True:
        setting = {}
    if not isinstance(setting, dict):
        raise TypeError(f'divergence_guard must be True, False or a dict of '
                        f'DivergenceGuardHook arguments, got {setting!r}.')
    custom_hooks = list(cfg.get('custom_hooks', None) or [])
    if any(str(hook.get('type', '')).rsplit('.', 1)[-1] == 'DivergenceGuardHook'
           for hook in custom_hooks):
        return None
    custom_hooks.append(dict(type='mmhybrid.DivergenceGuardHook', **setting))
    cfg.custom_hooks = custom_hooks
    importlib.import_module('mmhybrid.engine')
    return setting


def use_forward_compile(cfg: Config, cli_setting=None) -> Optional[dict]:
    """Compile the model's forward passes for this run (:class:`mmhybrid.CompileForwardHook`).

    The setting comes from ``--compile [MODE]`` (``cli_setting``) or the config key
    ``compile_forward`` (``True``, a mode string or a dict of ``torch.compile`` arguments; the
    CLI wins). MMEngine's own ``compile`` key, which compiles the whole ``train_step`` and
    fails inside ``torch.optim``, is translated to forward-only compilation with a message
    saying so. Errors in the setting are raised here, before anything is built. Returns the
    hook's settings, or ``None`` when nothing is compiled.
    """
    from mmhybrid.utils.compile import parse_compile_setting

    mmengine_compile = cfg.get('compile', None)
    if mmengine_compile:
        print('compile: MMEngine compiles the whole train_step, optimizer included, which fails '
              'inside torch.optim on current PyTorch; mmhybrid compiles the forward passes '
              '(backbone, neck, heads, losses) instead (CompileForwardHook).', flush=True)
        cfg.compile = False
        if cli_setting is None and cfg.get('compile_forward') is None:
            cli_setting = (mmengine_compile if isinstance(mmengine_compile, dict)
                           else True)
            if isinstance(cli_setting, dict):
                cli_setting = {k: v for k, v in cli_setting.items() if k != 'target'}
    setting = cli_setting if cli_setting is not None else cfg.get('compile_forward')
    try:
        settings = parse_compile_setting(setting)
    except (TypeError, ValueError) as exc:
        source = '--compile' if cli_setting is not None else 'compile_forward in the config'
        raise ValueError(f'{source}: {exc}') from None
    if settings is None:
        return None
    custom_hooks = [hook for hook in cfg.get('custom_hooks', None) or []
                    if hook.get('type') not in ('mmhybrid.CompileForwardHook',
                                                'CompileForwardHook')]
    custom_hooks.append(dict(type='mmhybrid.CompileForwardHook', **settings))
    cfg.custom_hooks = custom_hooks
    importlib.import_module('mmhybrid.engine')
    return settings


def check_runner_model(runner) -> None:
    """Check, before any dataset is built, that the runner's model fits together
    (:func:`mmhybrid.models.utils.check_feature_channels`)."""
    from mmengine.model import is_model_wrapper

    from mmhybrid.models.utils import check_feature_channels
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    check_feature_channels(model)


#: The dataloaders each tool reads: ``tools/test.py`` reads only the test split.
TRAIN_DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
TEST_DATALOADERS = ('test_dataloader', )


def _evaluator_file_problems(cfg: Config, dataloader_keys) -> list:
    """Annotation files (``ann_file``) the evaluators of the read splits need but lack."""
    from mmhybrid.datasets import DataProblem

    problems = []
    for loader_key in dataloader_keys:
        split = loader_key.split('_')[0]
        if split == 'train':
            continue
        evaluator = cfg.get(f'{split}_evaluator', None)
        many = isinstance(evaluator, (list, tuple))
        for index, metric in enumerate(evaluator_metrics(evaluator)):
            path = metric.get('ann_file')
            if isinstance(path, str) and path and '://' not in path and not osp.isfile(path):
                key = f'{split}_evaluator' + (f'[{index}]' if many else '') + '.ann_file'
                problems.append(DataProblem(split, key, (
                    f'{path} does not exist; the evaluator reads it. Set {key} (or '
                    '--data-root, which moves it with the dataset).')))
    return problems


def prepare_data_checks(cfg: Config, dataloader_keys=TRAIN_DATALOADERS) -> None:
    """Cheap checks before the runner starts, and file-naming errors while it runs.

    Every dataset folder of ``dataloader_keys`` (the splits the tool reads) must exist and hold
    images (:func:`mmhybrid.datasets.check_dataset_folders`) and their evaluators'
    annotation files must exist; every pipeline is wrapped so that a sample that fails to load
    or holds labels outside the classes raises an error naming the file
    (:func:`mmhybrid.datasets.wrap_pipelines_with_error_reports`).
    """
    from mmhybrid.datasets import (
        DatasetError,
        find_folder_problems,
        wrap_pipelines_with_error_reports,
    )
    problems = find_folder_problems(cfg, dataloader_keys)
    problems += _evaluator_file_problems(cfg, dataloader_keys)
    if problems:
        raise DatasetError.from_problems(problems, 'dataset folders')
    wrap_pipelines_with_error_reports(cfg)


def check_data(cfg: Config, splits=('train', 'val')) -> None:
    """Scan the given splits (``--check-data``): print the counts, raise on any broken file."""
    from mmhybrid.datasets import DatasetError, check_dataset
    report = check_dataset(cfg, splits=splits)
    print(report.format(), flush=True)
    if report.problems:
        raise DatasetError(f'--check-data found {len(report.problems)} problem(s) in the '
                           'dataset (listed above); fix or remove those files first.')


_NOT_REGISTERED = re.compile(r'([\w.]+) is not in the (?:(\w+)::)?([\w ]+?) registry')


def _registered_names(registry_name: str) -> List[str]:
    """Every name registered in MMEngine's root registry called ``registry_name`` and in its
    descendants, both plain and with their scope prefix (``'mmhybrid.TopFormer'``)."""
    import mmengine.registry as mmengine_registry
    from mmengine.registry import Registry

    roots = [value for value in vars(mmengine_registry).values()
             if isinstance(value, Registry) and value.name == registry_name]
    names, pending = set(), list(roots)
    while pending:
        registry = pending.pop()
        registry.import_from_location()
        for key in registry.module_dict:
            names.update((key, f'{registry.scope}.{key}'))
        pending += list(registry.children.values())
    return sorted(names)


def suggest_registered_name(error: KeyError) -> Optional[str]:
    """For MMEngine's ``KeyError: 'X is not in the mmseg::model registry'``, the registered
    names closest to ``X`` as a sentence, or ``None``."""
    match = _NOT_REGISTERED.search(str(error))
    if match is None:
        return None
    wanted, _, registry_name = match.groups()
    close = difflib.get_close_matches(wanted, _registered_names(registry_name), n=3, cutoff=0.75)
    if not close:
        return None
    return f'{wanted!r} is not registered; did you mean {" or ".join(map(repr, close))}?'


def build_runner(cfg: Config, quiet: bool = False):
    """``Runner.from_cfg`` (or the config's ``runner_type``), with a suggestion for a
    misspelt ``type=``.

    The terminal shows expected library errors and warnings (no detection to score) as INFO
    lines that explain them and drops the libraries' deprecation notices; ``quiet=True``
    (short runs) keeps it to progress, metrics and actionable warnings. The log file in the
    work dir keeps every line (:mod:`mmhybrid.engine.console`).

    Calls :func:`~mmhybrid.utils.checkpoint.allow_mmengine_checkpoints` first: the runner's
    checkpoints are then written so that they load safely, and ``Runner.resume`` /
    ``load_checkpoint`` (``torch.load`` with torch's safe default) can read them back.
    """
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from mmhybrid.engine.console import console_runner
    from mmhybrid.utils.config import interrupts_stay_interrupts

    allow_mmengine_checkpoints()
    try:
        with interrupts_stay_interrupts():  # the runner formats the config as it starts
            runner_cls = cfg.get('runner_type', Runner)
            if isinstance(runner_cls, str):
                runner_cls = RUNNERS.get(runner_cls)
                if runner_cls is None:
                    raise KeyError(f'{cfg.runner_type} is not in the {RUNNERS.scope}::runner '
                                   'registry')
            return console_runner(runner_cls, quiet).from_cfg(cfg)
    except KeyError as error:
        suggestion = suggest_registered_name(error)
        if suggestion is None:
            raise
        raise KeyError(f'{error.args[0]} {suggestion}') from error


def _pretrained_checkpoints(node, key: str):
    """``(config key, path)`` of every ``init_cfg=dict(type='Pretrained', checkpoint=...)``."""
    if isinstance(node, dict):
        if node.get('type') == 'Pretrained' and isinstance(node.get('checkpoint'), str):
            yield f'{key}.checkpoint', node['checkpoint']
        for child_key, child in node.items():
            yield from _pretrained_checkpoints(child, f'{key}.{child_key}')
    elif isinstance(node, (list, tuple)):
        for index, child in enumerate(node):
            yield from _pretrained_checkpoints(child, f'{key}.{index}')


def _how_to_get(path: str) -> str:
    """Where a pretrained file a config names comes from, as a command."""
    from mmhybrid.apis import official_weights

    try:
        entries = official_weights.resolve_name(osp.basename(path))
    except official_weights.UnknownWeightsName:
        entries = []
    fetchable = [e for e in entries if isinstance(e, official_weights.OfficialWeights)]
    if fetchable:
        dest = osp.dirname(path) or '.'
        return ('Fetch and convert the authors\' weights with `python '
                f'{official_weights.FETCH_SCRIPT} {fetchable[0].name}'
                f'{"" if dest == "checkpoints" else " --dest " + dest}`.')
    trained = [e for e in official_weights.NO_RELEASED_WEIGHTS.values()
               if e.work_dir_checkpoint == path]
    if trained:
        return (f'The authors released no weights; train them with `{trained[0].train_command}` '
                'first.')
    return ('Fetch it (`python tools/model_converters/fetch_official.py --list` lists the '
            'authors\' checkpoints) or train the config that writes it.')


def check_pretrained_files(cfg: Config) -> None:
    """Fail in seconds, not after the datasets are built, when pretrained weights are missing.

    Every local ``init_cfg=Pretrained`` checkpoint in ``cfg.model`` and ``load_from`` must
    exist. The error names the config key, where such a file comes from and how to train
    without it.
    """
    missing = [(key, path) for key, path in _pretrained_checkpoints(cfg.get('model'), 'model')
               if '://' not in path and not osp.isfile(path)]
    if missing:
        key, path = missing[0]
        raise FileNotFoundError(
            f'{key}={path!r} does not exist. {_how_to_get(path)} Or train from scratch with '
            f'--cfg-options {key[:-len(".checkpoint")]}=None.')
    load_from = cfg.get('load_from')
    if load_from and not cfg.get('resume') and '://' not in load_from and \
            not osp.isfile(load_from):
        raise FileNotFoundError(f'load_from={load_from!r} does not exist; fix the path or '
                                'remove load_from (--cfg-options load_from=None).')
