# Copyright (c) mmhybrid contributors. All rights reserved.
"""INT8 post-training static quantization of an ONNX file with ONNX Runtime: QDQ format,
per-channel int8 weights, calibrated on given inputs (:func:`quantize_model`).

ORT's recommended pre-processing (``quant_pre_process``) runs after ORT's basic-level optimizer
(:func:`mmhybrid.deploy.ort.ort_optimize`) has folded the shape arithmetic; exact GELUs are
fused first and the float op types rewired after (:mod:`mmhybrid.deploy.int8_passes`). The
whole pipeline on a config's data (export, calibrate, quantize, score, time) is
:func:`mmhybrid.deploy.quantize_pipeline.quantize_config`; the settings' defaults were decided
by measurement (``docs/en/deployment.md``, "What stays float, and the measurements that decided
it").
"""
import contextlib
import os
import os.path as osp
import platform
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from mmhybrid.analysis.latency import make_ort_session
from mmhybrid.utils.fileio import atomic_output
from mmhybrid.utils.progress import progress_bar
from .data import QuantizeError
from .int8_passes import fuse_gelu, keep_inputs_float
from .ort import ort_optimize

__all__ = [
    'DEFAULT_OP_TYPES', 'FLOAT_OP_TYPES', 'QuantizeSettings', 'ListCalibrationReader',
    'prepare_for_quantization', 'quantize_model', 'quantize_for_benchmark', 'cpu_has_vnni'
]

#: Operator types quantized by default (measurements: docs/en/deployment.md).
DEFAULT_OP_TYPES = ('Conv', 'MatMul', 'Gemm', 'Relu', 'Clip', 'Add', 'Mul', 'Concat', 'Resize',
                    'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Sigmoid')
#: Operator types always kept in float, whatever ``op_types`` says: quantizing them costs
#: accuracy (attention probabilities, normalisation statistics) without an int8 kernel in ORT.
FLOAT_OP_TYPES = ('Softmax', 'LayerNormalization')
_CALIBRATE_METHODS = ('minmax', 'percentile', 'entropy')


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
    returns a note on what was done.

    ORT's basic optimizer folds the shape arithmetic of a static graph to constants, after
    which ORT's *symbolic* shape inference succeeds (EdgeViT's any-size padding made it fail
    before). In a graph with a dynamic input size the sizes are symbolic and the relations
    undecidable, so the symbolic pass is skipped there (it only adds annotations for ORT's
    transformer fusions; the quantizer needs none); ONNX's own shape inference still runs.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process
    dynamic = _has_dynamic_input(src)
    dst = osp.abspath(dst)
    with tempfile.TemporaryDirectory(dir=osp.dirname(dst)) as tmp:
        folded = osp.join(tmp, 'folded.onnx')
        ort_optimize(src, folded, level='basic')
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
    """How :func:`quantize_model` quantizes (defaults: the measured choice, docs/en/deployment.md).

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


def quantize_for_benchmark(module: nn.Module, inputs: torch.Tensor, workdir: str,
                           threads: Optional[int] = None, num_calib: int = 8,
                           settings: Optional[QuantizeSettings] = None) -> str:
    """Export ``module`` (static, at ``inputs``' shape, parity-checked) and quantize it with
    the default settings, calibrated on ``num_calib`` random normal batches of that shape
    (seeded; timing does not depend on the data, accuracy is not measured here). Returns the
    path of the int8 file ``<workdir>/model_int8.onnx`` (the fp32 one is
    ``<workdir>/model_fp32.onnx``). ``threads`` is accepted for symmetry with the timing call
    and only used to check that the int8 file runs."""
    from .export import export_and_check
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
