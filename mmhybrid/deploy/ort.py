# Copyright (c) mmhybrid contributors. All rights reserved.
"""ONNX Runtime's own graph optimizer, run offline: the one helper the mobile pass
(:mod:`mmhybrid.deploy.mobile`, basic level: constant folding of the shape arithmetic) and the
int8 path (:mod:`mmhybrid.deploy.quantize` before ``quant_pre_process``, and
:func:`~mmhybrid.deploy.int8_passes.ort_kernel_counts` at the extended level) share."""
import os.path as osp
import tempfile
from typing import Optional

__all__ = ['ORT_LEVELS', 'ort_optimize', 'ort_optimize_model']

#: ``level`` names -> ``onnxruntime.GraphOptimizationLevel`` member names.
ORT_LEVELS = dict(basic='ORT_ENABLE_BASIC', extended='ORT_ENABLE_EXTENDED', all='ORT_ENABLE_ALL')


def ort_optimize(src: str, dst: str, level: str = 'basic',
                 log_severity_level: Optional[int] = None) -> str:
    """Write to ``dst`` the graph ONNX Runtime makes of the file ``src`` at ``level``
    (:data:`ORT_LEVELS`; ``'basic'``: constant folding, ``Shape`` of static tensors, Conv+BN/
    Add/Mul folding); returns ``dst``."""
    import onnxruntime as ort
    if level not in ORT_LEVELS:
        raise ValueError(f'level must be one of {sorted(ORT_LEVELS)}, not {level!r}.')
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, ORT_LEVELS[level])
    options.optimized_model_filepath = dst
    if log_severity_level is not None:
        options.log_severity_level = log_severity_level
    ort.InferenceSession(src, options, providers=['CPUExecutionProvider'])
    return dst


def ort_optimize_model(model, level: str = 'basic', log_severity_level: Optional[int] = 3):
    """:func:`ort_optimize` of an ``onnx.ModelProto``; returns the optimized ``ModelProto``."""
    import onnx
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = osp.join(tmp, 'in.onnx'), osp.join(tmp, 'out.onnx')
        onnx.save(model, src)
        ort_optimize(src, dst, level, log_severity_level)
        return onnx.load(dst)
