# Copyright (c) mmhybrid contributors. All rights reserved.
"""The data of an int8 run: the config checks made before any work, and the images of a
config's split, through its *test* pipeline and the model's own ``data_preprocessor`` (what the
exported module receives): calibration inputs and evaluation batches."""
import copy
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from mmhybrid.tasks import TaskModel
from mmhybrid.tasks.scope import config_scope, default_scope, task_scope
from mmhybrid.utils.fileio import check_outputs, config_inputs

__all__ = ['SPLITS', 'QuantizeError', 'check_quantize_config', 'check_quantize_outputs',
           'build_split_dataset', 'iter_split', 'load_split_inputs']

SPLITS = ('train', 'val', 'test')
_USER = 'tools/deployment/quantize.py'


class QuantizeError(RuntimeError):
    """Quantization cannot be done as asked (config, data, or ORT failing on the result)."""


def _scope(cfg) -> str:
    return config_scope(cfg, _USER)


def _dataset_cfg(cfg, split: str):
    if split not in SPLITS:
        raise QuantizeError(f'split must be one of {SPLITS}, got {split!r}.')
    loader = cfg.get(f'{split}_dataloader')
    if not loader or not loader.get('dataset'):
        raise QuantizeError(
            f'The config has no {split}_dataloader.dataset; choose another split '
            f'(--calib-split / --eval-split) or add it with --cfg-options.')
    return loader['dataset']


def _dataset_folders(dataset_cfg) -> List[str]:
    """The folders a dataset config reads (``data_root`` joined with its ``data_prefix``)."""
    root = dataset_cfg.get('data_root', '') or ''
    prefix = dataset_cfg.get('data_prefix', '')
    if isinstance(prefix, dict):
        prefixes = [p for p in prefix.values() if isinstance(p, str)]
    elif isinstance(prefix, str):
        prefixes = [prefix]
    else:
        prefixes = []
    folders = [osp.join(root, p) for p in prefixes if p] or ([root] if root else [])
    ann = dataset_cfg.get('ann_file') or ''
    if ann:
        folders.append(osp.join(root, ann) if not osp.isabs(ann) else ann)
    return folders


def check_quantize_config(cfg, splits: Sequence[str] = ('val', )) -> str:
    """Raise :class:`QuantizeError` for what is known to fail before any work starts; returns
    the config's scope (``'mmseg'`` or ``'mmpretrain'``).

    Refused: detectors (their heads end in NMS; only backbone + neck exports), segmentors whose
    ``test_cfg.mode`` is not ``'whole'`` (sliding-window inference runs the network on crops
    and stitches them; this tool runs the whole image), missing dataset folders or files.
    """
    scope = _scope(cfg)
    if scope == 'mmdet':
        raise QuantizeError(
            'Detectors are out of scope for tools/deployment/quantize.py: their heads end in '
            'data-dependent post-processing (NMS) that is not exported, so there is no model to '
            'score. Quantize a classifier or a segmentor config.')
    if scope == 'mmseg':
        mode = (cfg.model.get('test_cfg') or {}).get('mode', 'whole')
        if mode != 'whole':
            raise QuantizeError(
                f"model.test_cfg.mode is {mode!r}; only 'whole' inference is supported (the "
                "exported network runs on the whole image). Pass --cfg-options "
                "model.test_cfg.mode=whole.")
    for split in dict.fromkeys(splits):
        dataset_cfg = _dataset_cfg(cfg, split)
        for path in _dataset_folders(dataset_cfg):
            if not osp.exists(path):
                raise QuantizeError(
                    f'{split}_dataloader.dataset reads {path!r}, which does not exist. Point '
                    f'it at the data with --cfg-options {split}_dataloader.dataset.data_root='
                    f'PATH.')
    return scope


def check_quantize_outputs(cfg, out: str, config: Optional[str] = None,
                           checkpoint: Optional[str] = None, fp32_out: Optional[str] = None,
                           json_out: Optional[str] = None) -> None:
    """Refuse outputs that would overwrite an input or each other, ``--force`` or not.

    ``OUT``, ``--fp32-out`` and ``--json`` must be pairwise distinct, none may be the checkpoint
    or the config (compared resolved: links, ``./`` spellings, hard links), and none may be,
    lie inside or contain a dataset folder or file the config reads (every dataloader's
    ``data_root``, ``data_prefix`` folders and ``ann_file``).

    Raises:
        ValueError: naming the argument and the input or other argument it clashes with.
    """
    folders, files = config_inputs(cfg)
    sources = [('--checkpoint', checkpoint)]
    if isinstance(config, str) and '::' not in config:
        sources.append(('the config', config))
    check_outputs([('OUT', out), ('--fp32-out', fp32_out), ('--json', json_out)],
                  input_files=sources + files, input_folders=folders)


def _test_pipeline(cfg):
    pipeline = (cfg.get('test_dataloader') or {}).get('dataset', {}).get('pipeline')
    if not pipeline:
        raise QuantizeError('The config has no test_dataloader.dataset.pipeline (the test '
                            'pipeline is what calibration and evaluation images go through).')
    return pipeline


def build_split_dataset(cfg, split: str):
    """``cfg.<split>_dataloader.dataset`` built in the config's scope with the *test* pipeline
    (``cfg.test_dataloader.dataset.pipeline``): no random augmentation, the deployment view."""
    import importlib
    scope = task_scope(cfg, _USER)  # imports the library and registers mmhybrid's models
    dataset_cfg = copy.deepcopy(_dataset_cfg(cfg, split))
    dataset_cfg['pipeline'] = copy.deepcopy(_test_pipeline(cfg))
    registry = importlib.import_module(f'{scope}.registry').DATASETS
    with default_scope(scope):
        return registry.build(dataset_cfg)

def _indices(length: int, num: Optional[int]) -> List[int]:
    """``num`` indices spread evenly over ``range(length)`` (all of them when ``num`` is None)."""
    if num is None or num >= length:
        return list(range(length))
    if num < 1:
        raise QuantizeError(f'the number of images must be >= 1, got {num}.')
    return sorted({int(round(i)) for i in np.linspace(0, length - 1, num)})


def iter_split(task: TaskModel, dataset, num: Optional[int] = None
               ) -> Iterator[Tuple[torch.Tensor, list]]:
    """``(inputs, data_samples)`` per image (batch 1): a dataset item through the model's
    ``data_preprocessor`` in test mode, i.e. what the exported module takes, plus its samples."""
    from mmengine.dataset import pseudo_collate
    preprocessor = task.model.data_preprocessor
    for index in _indices(len(dataset), num):
        with torch.no_grad():
            data = preprocessor(pseudo_collate([dataset[index]]), False)
        yield data['inputs'], data['data_samples']


def load_split_inputs(task: TaskModel, split: str, num: Optional[int]) -> List[np.ndarray]:
    """Calibration inputs: ``num`` images of ``split`` (evenly spread), preprocessed as above."""
    dataset = build_split_dataset(task.cfg, split)
    if len(dataset) == 0:
        raise QuantizeError(f'the {split} split of the config has no images.')
    return [x.cpu().numpy().astype(np.float32) for x, _ in iter_split(task, dataset, num)]
