# Copyright (c) mmhybrid contributors. All rights reserved.
"""Score an ONNX Runtime session or the PyTorch module on a config's split with the config's
own evaluator, the outputs fed through the model's own post-processing (segmentors:
``decode_head.predict_by_feat`` + ``postprocess_result``, i.e. resizing to the padded input and
cropping/resizing to the label; classifiers: the head's softmax/argmax): mIoU for segmentors,
top-1 for classifiers."""
import copy
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from mmhybrid.analysis.latency import make_ort_session
from mmhybrid.tasks import TaskModel, quiet_mmengine_logger
from mmhybrid.tasks.scope import default_scope
from mmhybrid.utils.progress import progress_bar
from .data import QuantizeError, _indices, build_split_dataset, iter_split

__all__ = ['evaluate_onnx', 'evaluate_torch']

_METRIC_KEYS = dict(mmseg=('mIoU', ), mmpretrain=('accuracy/top1', ))


def _build_evaluator(task: TaskModel, split: str, dataset):
    from mmengine.evaluator import Evaluator
    key = 'test_evaluator' if split == 'test' else 'val_evaluator'
    metric_cfg = task.cfg.get(key) or task.cfg.get('val_evaluator')
    if not metric_cfg:
        raise QuantizeError(f'The config has no {key} to score the {split} split with.')
    with default_scope(task.scope):
        evaluator = Evaluator(copy.deepcopy(metric_cfg))
    evaluator.dataset_meta = dataset.metainfo
    return evaluator


def _headline(scope: str, metrics: Dict[str, float]) -> Tuple[str, float]:
    for key in _METRIC_KEYS.get(scope, ()):
        if key in metrics:
            return key, float(metrics[key])
    raise QuantizeError(f'the evaluator returned no {_METRIC_KEYS.get(scope)} '
                        f'(got {sorted(metrics)}).')


def _predict_from_outputs(task: TaskModel, outputs: torch.Tensor, data_samples: list) -> list:
    """The model's own post-processing of the exported module's outputs."""
    model = task.model
    with torch.no_grad():
        if task.scope == 'mmseg':
            metas = [s.metainfo for s in data_samples]
            logits = model.decode_head.predict_by_feat(outputs, metas)
            return model.postprocess_result(logits, data_samples)
        if task.scope == 'mmpretrain':
            return model.head._get_predictions(outputs, data_samples)
    raise QuantizeError(f'cannot score a {task.scope} model.')


def _evaluate(task: TaskModel, split: str, run, num: Optional[int], progress: bool = False,
              desc: Optional[str] = None) -> Dict[str, float]:
    dataset = build_split_dataset(task.cfg, split)
    evaluator = _build_evaluator(task, split, dataset)
    count = 0
    with progress_bar(total=len(_indices(len(dataset), num)), desc=desc or f'scoring {split}',
                      unit='image', progress=progress) as bar:
        for inputs, data_samples in iter_split(task, dataset, num):
            outputs = run(inputs)
            evaluator.process(_predict_from_outputs(task, outputs, data_samples))
            count += 1
            bar.update(1)
    with default_scope(task.scope), quiet_mmengine_logger():  # IoUMetric prints a class table
        metrics = evaluator.evaluate(count)
    name, value = _headline(task.scope, metrics)
    return dict(metrics, metric=name, value=value, images=int(count))


def evaluate_onnx(path_or_session, task: TaskModel, split: str = 'val',
                  num: Optional[int] = None, threads: Optional[int] = None,
                  progress: bool = False, desc: Optional[str] = None) -> Dict[str, float]:
    """Score an ONNX file (or session) on ``split`` with the config's evaluator.

    Returns the evaluator's metrics plus ``metric`` (the headline key: ``'mIoU'`` or
    ``'accuracy/top1'``), ``value`` (its value) and ``images``. ``progress``: a bar labelled
    ``desc``, one step per image (:func:`mmhybrid.utils.progress.progress_bar`).
    """
    session = path_or_session if not isinstance(path_or_session, str) else \
        make_ort_session(path_or_session, threads=threads)
    name = session.get_inputs()[0].name

    def run(inputs):
        out = session.run(None, {name: inputs.cpu().numpy().astype(np.float32)})[0]
        return torch.from_numpy(out)

    return _evaluate(task, split, run, num, progress, desc)


def evaluate_torch(task: TaskModel, split: str = 'val',
                   num: Optional[int] = None) -> Dict[str, float]:
    """:func:`evaluate_onnx` for the PyTorch module itself (same data, same post-processing)."""

    def run(inputs):
        with torch.no_grad():
            return task.module(inputs)

    return _evaluate(task, split, run, num)
