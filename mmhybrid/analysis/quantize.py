# Copyright (c) mmhybrid contributors. All rights reserved.
"""INT8 post-training quantization with ONNX Runtime, calibrated and scored on a config's data.

Pipeline (:func:`quantize_config`, the library behind ``tools/deployment/quantize.py``):

1. **Export** the config's model with :func:`~mmhybrid.analysis.export_and_check` (conv+BN folded
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
   otherwise static exports at that size quantized with the same settings and the calibration
   inputs resized to it (:func:`_static_pair`).

Pre-processing and the shape-inference failure of EdgeViT
----------------------------------------------------------
``quant_pre_process`` starts with ONNX Runtime's *symbolic* shape inference, which failed on
EdgeViT ("Incomplete symbolic shape inference") even for a static export: the any-size padding
of its local-global-local blocks (``pad_to_multiple`` before the strided sub-sampling, a
``ConvTranspose`` back up, then ``crop_to`` the unpadded size) computes pad amounts and crop
ends from ``Shape`` values, and sympy cannot decide ``floor(Pad_o0/4) <= ConvTranspose_o0``
(the slice end vs. the transposed-conv output) for the symbols it makes of them. What is done:

* first ONNX Runtime's basic-level optimizer (constant folding) runs on the export; in a static
  graph (classifiers, and every timed copy) it folds the whole shape arithmetic to constants and
  symbolic inference then succeeds (EdgeViT-XXS included);
* in a dynamic graph (the scored segmentor files) the sizes *are* symbolic and the relation is
  undecidable, so the symbolic pass is skipped for every dynamic graph (decided by the input
  shape, not by trying and falling back), and the pre-processing note says so. It only adds
  shape annotations used by transformer-style fusions of ORT's offline optimizer; the quantizer
  needs none (weights are initializers, activation ranges come from calibration) and ONNX's own
  shape inference still runs. The int8 file is then checked, not assumed: it must load and run
  on every evaluation image.

What is quantized and what is kept in float (decided by measurement)
--------------------------------------------------------------------
Measured with trained checkpoints of the four families on the tiny sets, int8 / fp32 ORT
latency side by side (numbers and commands: docs/en/deployment.md, "INT8 (ONNX Runtime)"):

* **Operator types** (:data:`DEFAULT_OP_TYPES`): ``Conv``/``MatMul``/``Gemm`` alone leave every
  ReLU/ReLU6 between a DequantizeLinear and a QuantizeLinear on full-size maps (TopFormer-T at
  512: QuantizeLinear 12 of 48 ms, int8/fp32 0.91; HAT-Net-T 0.96). Adding ``Relu``/``Clip``
  (removed into the quantization range) and the ops ORT has QLinear kernels for (``Add``,
  ``Mul``, ``Concat``, pooling, ``Sigmoid``; ``Resize`` runs on uint8 directly): TopFormer 0.65,
  HAT-Net 0.75 on the same (loaded) machine; TRT-ViT-A 0.38 -> 0.36. Also quantizing the data
  movement ops (``Transpose``, ``Reshape``, ``Slice``...) gave no consistent further gain.
* **Softmax and LayerNormalization stay float** (:data:`FLOAT_OP_TYPES`,
  :func:`keep_inputs_float`): with its neighbours quantized ORT fuses Softmax into
  ``QLinearSoftmax``; TopFormer-T measured 71.49 vs 71.48 mIoU and 6.47 vs 6.25 ms (quantized vs
  float), i.e. no gain for uint8 attention probabilities. ORT has no int8 LayerNorm.
* **uint8 activations, int8 per-channel weights**: int8 activations (S8S8) ran TopFormer-T at
  14.7 ms against 6.3 ms (U8S8) and 7.4 ms fp32 on this AVX512-VNNI CPU.
* **Depthwise convolutions quantized**: keeping TopFormer-T's 14 depthwise convs float made it
  slower (0.95 vs 0.84 at 2 threads; 0.92 vs 0.79 at 1): the Quantize/Dequantize pairs at the
  boundaries cost more than int8 saves. Keeping the 3-channel stem conv float: no difference.
* **MinMax calibration**: Percentile gave the same latency and 71.39 vs 71.48 mIoU.
* **Exact GELU fused to one float Gelu** before quantizing (:func:`fuse_gelu`); SiLU is not
  (measurements in its docstring).
"""
import contextlib
import copy
import json
import os
import os.path as osp
import platform
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from mmhybrid.utils.fileio import atomic_output, check_outputs, config_inputs
from mmhybrid.utils.progress import progress_bar
from .latency import LatencyResult, benchmark_onnxruntime, make_ort_session
from .task_model import TaskModel

__all__ = [
    'DEFAULT_OP_TYPES', 'FLOAT_OP_TYPES', 'SPLITS', 'QuantizeError', 'QuantizeSettings',
    'QuantizeResult', 'check_quantize_config', 'check_quantize_outputs', 'build_split_dataset',
    'iter_split', 'load_split_inputs', 'ListCalibrationReader', 'prepare_for_quantization',
    'quantize_model',
    'evaluate_onnx', 'evaluate_torch', 'fix_input_shape', 'compare_latency', 'profile_operators',
    'format_profile', 'quantize_for_benchmark', 'quantize_config', 'count_qdq',
    'keep_inputs_float', 'fuse_gelu', 'ort_kernel_counts', 'build_quantize_task'
]

#: Operator types quantized by default (see the module docstring and docs/en/deployment.md).
DEFAULT_OP_TYPES = ('Conv', 'MatMul', 'Gemm', 'Relu', 'Clip', 'Add', 'Mul', 'Concat', 'Resize',
                    'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Sigmoid')
#: Operator types always kept in float, whatever ``op_types`` says: quantizing them costs
#: accuracy (attention probabilities, normalisation statistics) without an int8 kernel in ORT.
FLOAT_OP_TYPES = ('Softmax', 'LayerNormalization')
SPLITS = ('train', 'val', 'test')
_CALIBRATE_METHODS = ('minmax', 'percentile', 'entropy')
_METRIC_KEYS = dict(mmseg=('mIoU', ), mmpretrain=('accuracy/top1', ))


class QuantizeError(RuntimeError):
    """Quantization cannot be done as asked (config, data, or ORT failing on the result)."""


# ------------------------------------------------------------------------------------------------
# Config checks and data
# ------------------------------------------------------------------------------------------------
def _scope(cfg) -> str:
    from mmhybrid.utils.config import config_scope
    return config_scope(cfg, 'tools/deployment/quantize.py')


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


@contextlib.contextmanager
def _default_scope(scope: str):
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(scope):
        yield


def build_split_dataset(cfg, split: str):
    """``cfg.<split>_dataloader.dataset`` built in the config's scope with the *test* pipeline
    (``cfg.test_dataloader.dataset.pipeline``): no random augmentation, the deployment view."""
    import importlib
    scope = _scope(cfg)
    dataset_cfg = copy.deepcopy(_dataset_cfg(cfg, split))
    dataset_cfg['pipeline'] = copy.deepcopy(_test_pipeline(cfg))
    importlib.import_module(scope)
    importlib.import_module('mmhybrid.models')
    registry = importlib.import_module(f'{scope}.registry').DATASETS
    with _default_scope(scope):
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


class ListCalibrationReader:
    """An ORT ``CalibrationDataReader`` over a list of input arrays (one batch each); ``bar``
    (:func:`mmhybrid.utils.progress.progress_bar`) advances by one per batch handed out."""

    def __init__(self, inputs: Sequence[np.ndarray], input_name: str = 'input', bar=None):
        self.inputs = list(inputs)
        self.input_name = input_name
        self.bar = bar
        self._iter = iter(self.inputs)

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        item = next(self._iter, None)
        if item is None:
            return None
        if self.bar is not None:
            self.bar.update(1)
        return {self.input_name: np.ascontiguousarray(item)}

    def rewind(self) -> None:
        self._iter = iter(self.inputs)

    def __len__(self) -> int:
        return len(self.inputs)


# ------------------------------------------------------------------------------------------------
# Quantization
# ------------------------------------------------------------------------------------------------
def _ort_basic_optimize(src: str, dst: str) -> None:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = dst
    ort.InferenceSession(src, options, providers=['CPUExecutionProvider'])


def _has_dynamic_input(path: str) -> bool:
    import onnx
    model = onnx.load(path, load_external_data=False)
    for value in model.graph.input:
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField('dim_value'):
                return True
    return False


def prepare_for_quantization(src: str, dst: str) -> str:
    """ORT's recommended pre-processing (``quant_pre_process``) after a constant-folding pass;
    returns a note on what was done. See the module docstring for why the symbolic shape
    inference is skipped on graphs with dynamic input sizes."""
    from onnxruntime.quantization.shape_inference import quant_pre_process
    dynamic = _has_dynamic_input(src)
    dst = osp.abspath(dst)
    with tempfile.TemporaryDirectory(dir=osp.dirname(dst)) as tmp:
        folded = osp.join(tmp, 'folded.onnx')
        _ort_basic_optimize(src, folded)
        # ORT's symbolic shape inference, when it fails, dumps sym_shape_infer_temp.onnx and a
        # <uuid>.data file into the working folder: run it in the temporary folder
        try:
            with contextlib.chdir(tmp):
                quant_pre_process(folded, dst, skip_symbolic_shape=dynamic)
        except Exception as exc:  # ORT raises a bare Exception for incomplete inference
            raise QuantizeError(
                f'onnxruntime\'s quantization pre-processing failed: {type(exc).__name__}: '
                f'{str(exc)[:300]}. "Incomplete symbolic shape inference" on a static graph '
                'means some shape arithmetic survived constant folding (ORT basic level); '
                'export the module without data-dependent shapes at the deployment size.'
            ) from None
    return ('ORT basic optimization, ONNX shape inference' +
            ('' if dynamic else ', symbolic shape inference') +
            (' (symbolic shape inference skipped: dynamic input size)' if dynamic else ''))


@dataclass
class QuantizeSettings:
    """How :func:`quantize_model` quantizes (defaults: the measured choice, module docstring).

    Attributes:
        op_types: operator types to quantize.
        nodes_to_exclude: node names kept in float.
        calibrate_method: ``'minmax'``, ``'percentile'`` or ``'entropy'``.
        activation_type / weight_type: ``'int8'`` or ``'uint8'``.
        per_channel: per-output-channel weight scales.
        reduce_range: 7-bit weights. ``None`` (default): on x86 CPUs without VNNI
            (:func:`cpu_has_vnni`), where onnxruntime's u8s8 kernels saturate the pairwise
            sums of 8-bit products (``vpmaddubsw``), as onnxruntime's quantization guide
            recommends; elsewhere full 8-bit weights.
        fuse_gelu: fuse exact (Erf) GELUs into one float ``Gelu`` node each before quantizing
            (:func:`fuse_gelu`).
        float_op_types: operator types kept in float even when their neighbours are quantized
            (:func:`keep_inputs_float`); never quantized whatever ``op_types`` says.
        extra_options: passed to ``quantize_static`` (ORT's names, e.g. ``ActivationSymmetric``).
    """
    op_types: Sequence[str] = DEFAULT_OP_TYPES
    nodes_to_exclude: Sequence[str] = ()
    calibrate_method: str = 'minmax'
    activation_type: str = 'uint8'
    weight_type: str = 'int8'
    per_channel: bool = True
    reduce_range: Optional[bool] = None
    fuse_gelu: bool = True
    float_op_types: Sequence[str] = FLOAT_OP_TYPES
    extra_options: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return dict(op_types=list(self.op_types), nodes_to_exclude=list(self.nodes_to_exclude),
                    calibrate_method=self.calibrate_method,
                    activation_type=self.activation_type, weight_type=self.weight_type,
                    per_channel=self.per_channel, reduce_range=self.reduce_range,
                    fuse_gelu=self.fuse_gelu,
                    float_op_types=list(self.float_op_types),
                    extra_options=dict(self.extra_options))


def cpu_has_vnni() -> Optional[bool]:
    """Whether this x86 CPU has VNNI int8 dot products (``avx512_vnni``, ``avx_vnni`` or AMX),
    read from ``/proc/cpuinfo``; ``None`` when that cannot be told (not Linux, not x86)."""
    if platform.machine().lower() not in ('x86_64', 'amd64') or \
            not osp.isfile('/proc/cpuinfo'):
        return None
    with open('/proc/cpuinfo') as file:
        flags = next((line.split(':', 1)[1].split() for line in file
                      if line.startswith('flags')), [])
    return any(flag in flags for flag in ('avx512_vnni', 'avx_vnni', 'amx_int8'))


def _quant_type(name: str):
    from onnxruntime.quantization import QuantType
    types = dict(int8=QuantType.QInt8, uint8=QuantType.QUInt8)
    if name not in types:
        raise QuantizeError(f'quantized type must be one of {sorted(types)}, got {name!r}.')
    return types[name]


def _calibrate_method(name: str):
    from onnxruntime.quantization import CalibrationMethod
    methods = dict(minmax=CalibrationMethod.MinMax, percentile=CalibrationMethod.Percentile,
                   entropy=CalibrationMethod.Entropy)
    if name not in methods:
        raise QuantizeError(
            f'calibrate_method must be one of {_CALIBRATE_METHODS}, got {name!r}.')
    return methods[name]


def quantize_model(fp32_onnx: str,
                   int8_onnx: str,
                   calibration_inputs: Sequence[np.ndarray],
                   settings: Optional[QuantizeSettings] = None,
                   progress: bool = False) -> str:
    """Statically quantize ``fp32_onnx`` to ``int8_onnx`` (QDQ, per-channel weights), calibrated
    on ``calibration_inputs`` (arrays the model takes, one batch each); returns the
    pre-processing note of :func:`prepare_for_quantization`. ``progress``: a bar on stderr, one
    step per calibration batch (:func:`mmhybrid.utils.progress.progress_bar`; off by default
    here, since benchmarks quantize inside their own loops).

    The output is written atomically (nothing is left at ``int8_onnx`` on failure).
    """
    from onnxruntime.quantization import QuantFormat, quantize_static
    settings = settings or QuantizeSettings()
    if not calibration_inputs:
        raise QuantizeError('no calibration inputs.')
    op_types = [t for t in settings.op_types if t not in settings.float_op_types]
    # not CalibMaxIntermediateOutputs: onnxruntime 1.32's MinMax calibrator *drops* every full
    # chunk of collected ranges instead of merging it ("No data is collected" with exactly N)
    extra = dict(settings.extra_options)
    with atomic_output(int8_onnx) as tmp, \
            tempfile.TemporaryDirectory(dir=osp.dirname(osp.abspath(int8_onnx))) as work:
        prepared = osp.join(work, 'prepared.onnx')
        note = prepare_for_quantization(fp32_onnx, prepared)
        import onnx
        prepared_model = onnx.load(prepared)
        input_name = prepared_model.graph.input[0].name
        if settings.fuse_gelu and fuse_gelu(prepared_model):
            onnx.save(prepared_model, prepared)
        exclude = list(settings.nodes_to_exclude)
        bar = progress_bar(total=len(calibration_inputs), desc='calibration', unit='batch',
                           progress=progress)
        with bar:
            quantize_static(
                prepared, tmp, ListCalibrationReader(calibration_inputs, input_name, bar),
                quant_format=QuantFormat.QDQ, op_types_to_quantize=op_types,
                per_channel=settings.per_channel,
                reduce_range=(cpu_has_vnni() is False if settings.reduce_range is None
                              else settings.reduce_range),
                activation_type=_quant_type(settings.activation_type),
                weight_type=_quant_type(settings.weight_type),
                nodes_to_exclude=exclude or None,
                calibrate_method=_calibrate_method(settings.calibrate_method),
                extra_options=extra)
        if settings.float_op_types:
            keep_inputs_float(tmp, settings.float_op_types)
        try:
            make_ort_session(tmp, threads=1)
        except Exception as exc:  # onnxruntime raises its own classes
            raise QuantizeError(f'onnxruntime cannot load the quantized model: '
                                f'{type(exc).__name__}: {str(exc)[:500]}') from None
    return note


def fuse_gelu(model) -> int:
    """Replace every exact GELU the exporter wrote (``Div(x, sqrt 2) -> Erf -> Add 1 -> Mul x ->
    Mul 0.5``, or with the 0.5 applied to ``x`` first) by one ``com.microsoft`` ``Gelu`` node
    (in place); returns how many were fused.

    In fp32, ORT fuses these five nodes into one ``Gelu`` kernel itself. In a QDQ graph it can
    not: the quantizer gives each consumer of ``x`` its own DequantizeLinear, so ``Div`` and
    ``Mul`` no longer read the same tensor, and quantized ``Mul``/``Add`` break the pattern too.
    In EdgeViT-XXS that left ``Erf``, ``Div``, ``Mul``, ``Add`` and their Quantize/Dequantize
    nodes at about 7-9 ms of a 33-35 ms int8 run, against 2.8-4.3 ms for the fused fp32 ``Gelu``s
    (measured side by side). Fused before quantizing, the ``Gelu`` is not quantized (it is not in
    the quantized op types) and runs in float between one DequantizeLinear and one
    QuantizeLinear. EdgeViT-XXS int8 / fp32, side by side: 0.75 fused vs 0.86 unfused at 1
    thread, 0.84 vs 0.95 at 2 threads.

    The same fusion of SiLU (``Mul(x, Sigmoid(x))`` into ``QuickGelu``) was measured on HAT-Net-T
    and not kept: 0.69 vs 0.66 (1 thread), 0.84 vs 0.79 (2 threads) - there, the float
    ``QuickGelu`` splits int8 chains and its Quantize/Dequantize cost more than
    ``QLinearSigmoid`` + ``QLinearMul``.
    """
    from onnx import helper, numpy_helper
    graph = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == 'Constant' and node.attribute:
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    producer = {out: node for node in graph.node for out in node.output}
    consumers: Dict[str, list] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)

    def const_is(name, value):
        return name in consts and consts[name].size == 1 and \
            abs(float(consts[name].reshape(-1)[0]) - value) < 1e-4 * abs(value)

    def other(node, name):
        rest = [i for i in node.input if i != name]
        return rest[0] if len(rest) == 1 else None

    def only_consumer(name, op_type):
        users = consumers[name]
        return users[0] if len(users) == 1 and users[0].op_type == op_type else None

    fused, remove = 0, set()
    for erf in [n for n in graph.node if n.op_type == 'Erf']:
        div = producer.get(erf.input[0])
        if div is None or div.op_type != 'Div' or not const_is(div.input[1], 2 ** 0.5):
            continue
        x = div.input[0]
        add = only_consumer(erf.output[0], 'Add')
        if add is None or not const_is(other(add, erf.output[0]) or '', 1.0):
            continue
        mul1 = only_consumer(add.output[0], 'Mul')
        if mul1 is None:
            continue
        factor = other(mul1, add.output[0])
        group = [div, erf, add, mul1]
        if factor == x:  # x * (1 + erf) then * 0.5
            mul2 = only_consumer(mul1.output[0], 'Mul')
            if mul2 is None or not const_is(other(mul2, mul1.output[0]) or '', 0.5):
                continue
            group.append(mul2)
            out = mul2.output[0]
        else:  # (x * 0.5) * (1 + erf)
            half = producer.get(factor)
            if half is None or half.op_type != 'Mul' or x not in half.input or \
                    not const_is(other(half, x) or '', 0.5) or len(consumers[factor]) != 1:
                continue
            group.append(half)
            out = mul1.output[0]
        if len(consumers[div.output[0]]) != 1:
            continue
        index = min(list(graph.node).index(n) for n in group)
        graph.node.insert(index, helper.make_node(
            'Gelu', [x], [out], name=f'{erf.name}_Gelu', domain='com.microsoft'))
        remove.update(id(n) for n in group)
        fused += 1
    if fused:
        kept = [n for n in graph.node if id(n) not in remove]
        del graph.node[:]
        graph.node.extend(kept)
        used = {name for node in graph.node for name in node.input}
        for init in [i for i in graph.initializer if i.name not in used]:
            graph.initializer.remove(init)
        if not any(o.domain == 'com.microsoft' for o in model.opset_import):
            model.opset_import.append(helper.make_opsetid('com.microsoft', 1))
    return fused


def keep_inputs_float(path: str, op_types: Sequence[str]) -> int:
    """Rewire every node of ``op_types`` that reads ``DequantizeLinear(QuantizeLinear(x))`` to
    read ``x`` (in place; returns how many inputs were rewired).

    ``quantize_static`` leaves Softmax out of ``op_types_to_quantize`` but still quantizes the
    outputs of the ``MatMul`` before it and the input of the ``MatMul`` after it, and ORT then
    fuses ``DQ -> Softmax -> Q`` into ``QLinearSoftmax`` (uint8 attention probabilities). With
    a float input nothing is fused: the node runs in float, its producer becomes a
    ``MatMulIntegerToFloat`` / float-output kernel.
    """
    import onnx
    model = onnx.load(path)
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    rewired = 0
    for node in graph.node:
        if node.op_type not in op_types:
            continue
        for i, name in enumerate(node.input):
            dq = producer.get(name)
            if dq is None or dq.op_type != 'DequantizeLinear':
                continue
            quant = producer.get(dq.input[0])
            if quant is None or quant.op_type != 'QuantizeLinear':
                continue
            node.input[i] = quant.input[0]
            rewired += 1
    if rewired:
        _prune_dangling(graph)
        onnx.save(model, path)
    return rewired


def _prune_dangling(graph) -> None:
    """Remove Quantize/DequantizeLinear nodes whose outputs nobody reads, and unused
    initializers."""
    outputs = {o.name for o in graph.output}
    while True:
        used = {name for node in graph.node for name in node.input} | outputs
        dead = [node for node in graph.node
                if node.op_type in ('QuantizeLinear', 'DequantizeLinear')
                and not any(out in used for out in node.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    used = {name for node in graph.node for name in node.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


def ort_kernel_counts(path: str) -> Dict[str, int]:
    """Operator counts of the graph ORT actually runs (after its extended-level optimizations,
    which fuse QDQ groups into ``QLinearConv``, ``QLinearSoftmax``, ``MatMulIntegerToFloat``...).
    """
    import onnx
    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = osp.join(tmp, 'optimized.onnx')
        ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        model = onnx.load(options.optimized_model_filepath)
    counts: Dict[str, int] = defaultdict(int)
    for node in model.graph.node:
        counts[node.op_type] += 1
    return dict(counts)


def count_qdq(path: str) -> Dict[str, Any]:
    """What a QDQ file holds: Quantize/DequantizeLinear counts, int8 weight tensors and how many
    of them have per-channel (1-D, length > 1) scales."""
    import onnx
    from onnx import numpy_helper
    model = onnx.load(path)
    inits = {i.name: i for i in model.graph.initializer}
    counts = defaultdict(int)
    weights = per_channel = 0
    for node in model.graph.node:
        counts[node.op_type] += 1
        if node.op_type == 'DequantizeLinear' and node.input[0] in inits \
                and node.input[1] in inits \
                and inits[node.input[0]].data_type in (onnx.TensorProto.INT8,
                                                       onnx.TensorProto.UINT8):
            weights += 1  # int8 weights (int32 biases are not counted)
            if numpy_helper.to_array(inits[node.input[1]]).size > 1:
                per_channel += 1
    return dict(quantize_linear=counts['QuantizeLinear'],
                dequantize_linear=counts['DequantizeLinear'],
                weights=weights, per_channel_weights=per_channel, op_counts=dict(counts))


# ------------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------------
def _build_evaluator(task: TaskModel, split: str, dataset):
    from mmengine.evaluator import Evaluator
    key = 'test_evaluator' if split == 'test' else 'val_evaluator'
    metric_cfg = task.cfg.get(key) or task.cfg.get('val_evaluator')
    if not metric_cfg:
        raise QuantizeError(f'The config has no {key} to score the {split} split with.')
    with _default_scope(task.scope):
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
    from .task_model import quiet_mmengine_logger
    with _default_scope(task.scope), quiet_mmengine_logger():  # IoUMetric prints a class table
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


# ------------------------------------------------------------------------------------------------
# Latency and per-operator profiles
# ------------------------------------------------------------------------------------------------
def fix_input_shape(src: str, dst: str, shape: Sequence[int]) -> None:
    """Copy an ONNX file with its (dynamic) input fixed to ``shape`` (``N, C, H, W``), e.g. to
    profile a dynamic export at one size.

    This is *not* what latency is measured on: ORT then folds part of the shape arithmetic
    (TopFormer-T at 256: 21.4 -> 16.0 ms) but a static export is faster still (TRT-ViT-A at
    224: 206 ms fixed vs 147 ms static, side by side on a loaded machine), see
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


# ------------------------------------------------------------------------------------------------
# For benchmark.py and the CLI
# ------------------------------------------------------------------------------------------------
def quantize_for_benchmark(module: nn.Module, inputs: torch.Tensor, workdir: str,
                           threads: Optional[int] = None, num_calib: int = 8,
                           settings: Optional[QuantizeSettings] = None) -> str:
    """Export ``module`` (static, at ``inputs``' shape, parity-checked) and quantize it with
    the default settings, calibrated on ``num_calib`` random normal batches of that shape
    (seeded; timing does not depend on the data, accuracy is not measured here). Returns the
    path of the int8 file ``<workdir>/model_int8.onnx`` (the fp32 one is
    ``<workdir>/model_fp32.onnx``). ``threads`` is accepted for symmetry with the timing call
    and only used to check that the int8 file runs."""
    from .onnx_export import export_and_check
    os.makedirs(workdir, exist_ok=True)
    fp32 = osp.join(workdir, 'model_fp32.onnx')
    int8 = osp.join(workdir, 'model_int8.onnx')
    export_and_check(module, inputs, fp32)
    generator = torch.Generator().manual_seed(0)
    calib = [torch.randn(tuple(inputs.shape), generator=generator).numpy()
             for _ in range(num_calib)]
    quantize_model(fp32, int8, calib, settings)
    session = make_ort_session(int8, threads=threads)
    session.run(None, {session.get_inputs()[0].name: calib[0]})
    return int8


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
    afterwards (TRT-ViT-A at 224: 147 ms static vs 206 ms, measured side by side): with a
    static input at export time every reshape of the attention blocks is a constant.
    """
    import torch.nn.functional as F

    from .onnx_export import export_and_check
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
    """:func:`~mmhybrid.analysis.build_task_model`, folded by default (its ``model`` carries the
    data preprocessor the config's runner would use, so data can be preprocessed with it)."""
    from .task_model import build_task_model
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
    from .onnx_export import export_and_check
    from .task_model import load_config
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

