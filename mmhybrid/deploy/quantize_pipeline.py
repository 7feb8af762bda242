# Copyright (c) mmhybrid contributors. All rights reserved.
"""INT8 post-training quantization with ONNX Runtime, calibrated and scored on a config's data.

Pipeline (:func:`quantize_config`, the library behind ``tools/deployment/quantize.py``):

1. **Export** the config's model with :func:`~mmhybrid.deploy.export_and_check` (conv+BN folded
   by ``switch_to_deploy``, onnxruntime parity checked against PyTorch). Classifiers: static, at
   the one size their test pipeline crops to. Segmentors: dynamic batch / height / width, so
   that one file runs every image of the split (their test pipelines keep the aspect ratio).
2. **Calibration inputs** (:func:`load_split_inputs`): images of the chosen split's dataset
   (``cfg.<split>_dataloader.dataset``) run through the config's *test* pipeline and the model's
   own ``data_preprocessor``, i.e. exactly the float tensors the exported module receives.
3. **Quantize** (:func:`quantize_model`): ONNX Runtime's ``quant_pre_process`` then
   ``quantize_static`` in QDQ format with per-channel int8 weights.
4. **Score both files** (:func:`evaluate_onnx`) with the config's own evaluator, the ORT outputs
   fed through the model's own post-processing (segmentors: ``decode_head.predict_by_feat`` +
   ``postprocess_result``, i.e. resizing to the padded input and cropping/resizing to the label;
   classifiers: the head's softmax/argmax): mIoU for segmentors, top-1 for classifiers.
5. **Time** fp32 vs int8 side by side in this process (:func:`compare_latency`), interleaved in
   rounds so that load from other processes hits both alike, on *static* graphs at the latency
   size: the scored files when they are static at that size (classifiers at their eval size),
   inputs resized to it (:func:`_static_pair`).

Why the tool does what it does (the pre-processing of EdgeViT, what stays float) and the
measurements that decided it: ``docs/en/deployment.md``, "INT8 (ONNX Runtime)".
"""
import json
import os
import os.path as osp
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from mmhybrid.analysis.latency import LatencyResult, benchmark_onnxruntime, make_ort_session
from mmhybrid.tasks import TaskModel
from mmhybrid.utils.fileio import atomic_output
from .data import QuantizeError, check_quantize_config, check_quantize_outputs, load_split_inputs
from .evaluate import evaluate_onnx
from .int8_passes import count_qdq
from .quantize import QuantizeSettings, quantize_model

__all__ = ['QuantizeResult', 'fix_input_shape', 'compare_latency', 'profile_operators',
           'format_profile', 'build_quantize_task', 'quantize_config']


def fix_input_shape(src: str, dst: str, shape: Sequence[int]) -> None:
    """Copy an ONNX file with its (dynamic) input fixed to ``shape`` (``N, C, H, W``), e.g. to
    profile a dynamic export at one size.

    This is *not* what latency is measured on: ORT then folds part of the shape arithmetic, but
    a static export is faster still (measured in docs/en/deployment.md), see
    :func:`quantize_config`.
    """
    import onnx
    from onnxruntime.tools.onnx_model_utils import make_input_shape_fixed
    model = onnx.load(src)
    make_input_shape_fixed(model.graph, model.graph.input[0].name, [int(v) for v in shape])
    with atomic_output(dst) as tmp:
        onnx.save(model, tmp)


def compare_latency(paths: Dict[str, str], inputs: np.ndarray, threads: int,
                    warmup: int = 5, runs: int = 30, rounds: int = 3
                    ) -> Dict[str, LatencyResult]:
    """Median latency of several ONNX files on the same input, same thread count, measured in
    ``rounds`` interleaved rounds (``runs // rounds`` timed runs of each file per round) so that
    load from other processes during the measurement hits every file alike."""
    sessions = {key: make_ort_session(path, threads=threads) for key, path in paths.items()}
    per_round = max(1, runs // rounds)
    results: Dict[str, LatencyResult] = {}
    for _ in range(rounds):
        for key, session in sessions.items():
            result = benchmark_onnxruntime(session, inputs, warmup=warmup, runs=per_round,
                                           measure_memory=False)
            if key in results:
                results[key].times_ms.extend(result.times_ms)
            else:
                results[key] = result
    return results


def profile_operators(path: str, inputs: np.ndarray, threads: int, runs: int = 10,
                      warmup: int = 3) -> Dict[str, Dict[str, float]]:
    """Per-operator-type time of one ONNX file from ORT's profiler: ``{op_type: {'ms': mean
    ms per run, 'nodes': kernel count}}``, plus ``'(total)'`` (sum of kernel times)."""
    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = int(threads)
        options.enable_profiling = True
        options.profile_file_prefix = osp.join(tmp, 'profile')
        session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        feed = {session.get_inputs()[0].name: np.ascontiguousarray(inputs)}
        for _ in range(warmup):
            session.run(None, feed)
        # the profile holds every run; only the timed ones are counted (by run index)
        for _ in range(runs):
            session.run(None, feed)
        profile = session.end_profiling()
        with open(profile) as f:
            events = json.load(f)
    runs_seen = [e for e in events if e.get('cat') == 'Session' and e.get('name') == 'model_run']
    first_timed = runs_seen[warmup]['ts'] if len(runs_seen) > warmup else 0
    totals: Dict[str, float] = defaultdict(float)
    nodes: Dict[str, set] = defaultdict(set)
    for event in events:
        if event.get('cat') != 'Node' or not event.get('name', '').endswith('_kernel_time'):
            continue
        if event['ts'] < first_timed:
            continue
        op = event.get('args', {}).get('op_name', '?')
        totals[op] += event['dur'] / 1e3
        nodes[op].add(event['name'])
    table = {op: dict(ms=ms / runs, nodes=len(nodes[op])) for op, ms in totals.items()}
    table['(total)'] = dict(ms=sum(v['ms'] for v in table.values()),
                            nodes=sum(v['nodes'] for v in table.values()))
    return table


def format_profile(profiles: Dict[str, Dict[str, Dict[str, float]]], top: int = 12) -> str:
    """A markdown table of per-operator times of several files (columns), the ``top`` op types
    by their largest time in any file first."""
    keys = list(profiles)
    ops = sorted({op for p in profiles.values() for op in p if op != '(total)'},
                 key=lambda op: -max(p.get(op, {}).get('ms', 0.) for p in profiles.values()))
    lines = ['| operator | ' + ' | '.join(f'{k} ms (kernels)' for k in keys) + ' |',
             '| --- |' + ' --- |' * len(keys)]
    for op in ops[:top] + ['(total)']:
        cells = []
        for key in keys:
            entry = profiles[key].get(op)
            cells.append(f"{entry['ms']:.2f} ({entry['nodes']})" if entry else '-')
        lines.append(f'| {op} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


@dataclass
class QuantizeResult:
    """Everything :func:`quantize_config` measured."""
    config: str
    scope: str
    input_shape: Tuple[int, int]
    threads: int
    calib_split: str
    num_calib: int
    eval_split: str
    latency: Dict[str, LatencyResult]
    metrics: Dict[str, Dict[str, float]]
    qdq: Dict[str, Any]
    settings: Dict[str, Any]
    preprocessing: str
    profiles: Dict[str, Dict[str, Dict[str, float]]] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.latency['int8'].median_ms / self.latency['fp32'].median_ms

    @property
    def metric_name(self) -> str:
        return self.metrics['fp32']['metric']

    @property
    def delta(self) -> float:
        return self.metrics['int8']['value'] - self.metrics['fp32']['value']

    def table(self) -> str:
        fp32, int8 = self.latency['fp32'], self.latency['int8']
        m32, m8 = self.metrics['fp32'], self.metrics['int8']
        shape = f'1x3x{self.input_shape[0]}x{self.input_shape[1]}'
        return '\n'.join([
            f'| model | ORT median ms ({self.threads} threads, {shape}) | '
            f'{self.metric_name} ({self.eval_split}, {m32["images"]} images) |',
            '| --- | --- | --- |',
            f'| fp32 | {fp32.median_ms:.2f} | {m32["value"]:.2f} |',
            f'| int8 | {int8.median_ms:.2f} | {m8["value"]:.2f} |',
            f'| int8 / fp32 | {self.ratio:.2f}x | {self.delta:+.2f} |',
        ])

    def to_dict(self) -> Dict[str, Any]:
        return dict(
            config=self.config, scope=self.scope, input_shape=list(self.input_shape),
            threads=self.threads, calib_split=self.calib_split, num_calib=self.num_calib,
            eval_split=self.eval_split, ratio=self.ratio, metric=self.metric_name,
            delta=self.delta, latency={k: v.to_dict() for k, v in self.latency.items()},
            metrics=self.metrics, qdq=self.qdq, settings=self.settings,
            preprocessing=self.preprocessing, profiles=self.profiles)


def _jsonable(metrics: Dict[str, Any]) -> Dict[str, Any]:
    def plain(value):
        if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, (np.floating, float)):
            return float(value)
        return value

    return {key: plain(value) for key, value in metrics.items()}


def _static_pair(task: TaskModel, calib: Sequence[np.ndarray], shape: Sequence[int],
                 settings: QuantizeSettings, work: str, log=print,
                 progress: bool = False) -> Dict[str, str]:
    """fp32 and int8 *static* exports at ``shape`` for timing, quantized like the scored pair
    with the calibration inputs resized (bilinear) to ``shape``.

    Latency is measured on static graphs because that is how a model is deployed at one size
    and because ORT runs them much faster than a dynamic graph, even one whose input is fixed
    afterwards (measured side by side in docs/en/deployment.md): with a static input at export
    time every reshape of the attention blocks is a constant.
    """
    import torch.nn.functional as F

    from .export import export_and_check
    height, width = (int(v) for v in shape)
    log(f'exporting and quantizing static {height}x{width} copies for timing (calibration '
        'inputs resized to that size)')
    resized = [F.interpolate(torch.from_numpy(x), size=(height, width), mode='bilinear',
                             align_corners=False).numpy() for x in calib]
    paths = {'fp32': osp.join(work, 'timed_fp32.onnx'), 'int8': osp.join(work, 'timed_int8.onnx')}
    export_and_check(task.module, torch.from_numpy(resized[0]), paths['fp32'])
    quantize_model(paths['fp32'], paths['int8'], resized, settings, progress=progress)
    return paths


def build_quantize_task(config, checkpoint: Optional[str] = None,
                        cfg_options: Optional[dict] = None,
                        shape: Optional[Sequence[int]] = None,
                        deploy: bool = True) -> TaskModel:
    """:func:`~mmhybrid.tasks.build_task_model`, folded by default (its ``model`` carries the
    data preprocessor the config's runner would use, so data can be preprocessed with it)."""
    from mmhybrid.tasks import build_task_model
    return build_task_model(config, checkpoint=checkpoint, cfg_options=cfg_options,
                            deploy=deploy, shape=shape)


def quantize_config(config,
                    out: str,
                    checkpoint: Optional[str] = None,
                    calib_split: str = 'train',
                    num_calib: int = 32,
                    eval_split: str = 'val',
                    num_eval: Optional[int] = None,
                    shape: Optional[Sequence[int]] = None,
                    threads: int = 1,
                    runs: int = 30,
                    warmup: int = 5,
                    settings: Optional[QuantizeSettings] = None,
                    cfg_options: Optional[dict] = None,
                    fp32_out: Optional[str] = None,
                    profile: bool = False,
                    log=print,
                    progress: bool = True) -> QuantizeResult:
    """Export, calibrate, quantize, score and time a config's model (module docstring).

    ``progress``: bars on stderr for the calibration (one step per batch) and the scoring (one
    per image), shown only when stderr is a terminal (:mod:`mmhybrid.utils.progress`).

    The int8 file is written atomically to ``out``; ``fp32_out`` keeps the fp32 export too
    (otherwise it lives in a temporary folder). Refusing an existing ``out`` and checking that
    it is not the checkpoint are the caller's business (``check_destination``); an ``out`` or
    ``fp32_out`` that is an input (checkpoint, config, dataset) or both at once is refused here
    (:func:`check_quantize_outputs`).
    """
    from mmhybrid.tasks import load_config
    from .export import export_and_check
    cfg = load_config(config, cfg_options)
    check_quantize_outputs(cfg, out, config=config, checkpoint=checkpoint, fp32_out=fp32_out)
    scope = check_quantize_config(cfg, (calib_split, eval_split))
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise QuantizeError(f'--checkpoint {checkpoint!r} does not exist.')
    task = build_quantize_task(cfg, checkpoint=checkpoint, shape=shape)
    shape = task.input_shape
    log(f'calibration: {num_calib} {calib_split} images through the test pipeline')
    calib = load_split_inputs(task, calib_split, num_calib)
    calib_shapes = {tuple(x.shape[2:]) for x in calib}
    # Classifier test pipelines crop every image to one size: the scored files are static
    # exports at that size. Segmentation pipelines keep the aspect ratio: dynamic exports.
    static_size = next(iter(calib_shapes)) if scope == 'mmpretrain' and \
        len(calib_shapes) == 1 else None
    settings = settings or QuantizeSettings()
    with tempfile.TemporaryDirectory(dir=osp.dirname(osp.abspath(out))) as work:
        fp32 = osp.join(work, 'fp32.onnx')
        log('exporting ' + (f'(static {static_size[0]}x{static_size[1]}' if static_size else
                            '(dynamic batch/height/width') + ', parity-checked against PyTorch)')
        export_and_check(task.module, torch.from_numpy(calib[0]), fp32,
                         dynamic=static_size is None)
        log(f'quantizing: {settings.to_dict()}')
        with atomic_output(out) as tmp_out:
            note = quantize_model(fp32, tmp_out, calib, settings, progress=progress)
            qdq = count_qdq(tmp_out)
            log(f'evaluating fp32 and int8 on {eval_split}')
            metrics = {
                key: _jsonable(evaluate_onnx(path, task, eval_split, num_eval, threads,
                                             progress=progress, desc=f'{key} on {eval_split}'))
                for key, path in (('fp32', fp32), ('int8', tmp_out))
            }
            inputs = task.make_inputs(shape=shape).cpu().numpy()
            timed = {'fp32': fp32, 'int8': tmp_out}
            if static_size != tuple(shape):
                timed = _static_pair(task, calib, shape, settings, work, log, progress)
            log(f'timing fp32 and int8 at 1x3x{shape[0]}x{shape[1]}, {threads} threads')
            latency = compare_latency(timed, inputs, threads, warmup=warmup, runs=runs)
            profiles = {}
            if profile:
                profiles = {key: profile_operators(path, inputs, threads)
                            for key, path in timed.items()}
        if fp32_out:
            with atomic_output(fp32_out) as tmp_fp32:
                os.replace(fp32, tmp_fp32)
    return QuantizeResult(
        config=str(config), scope=scope, input_shape=shape, threads=threads,
        calib_split=calib_split, num_calib=len(calib), eval_split=eval_split, latency=latency,
        metrics=metrics, qdq=qdq, settings=settings.to_dict(), preprocessing=note,
        profiles=profiles)
