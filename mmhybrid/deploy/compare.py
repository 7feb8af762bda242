# Copyright (c) mmhybrid contributors. All rights reserved.
"""Time one module in several execution modes and check each against eager PyTorch.

Modes:

* ``eager``: the module as built (BatchNorm separate), ``torch.inference_mode``;
* ``fused``: a copy after :func:`mmhybrid.models.utils.switch_to_deploy` (conv+BN folded,
  blocks re-parameterised);
* ``onnxruntime``: the fused copy exported to ONNX (opset 17) and run by onnxruntime with the
  same number of intra-op threads as PyTorch;
* ``compiled`` (not in the default :data:`MODES`; :data:`ALL_MODES`): the fused copy compiled
  with ``torch.compile`` (:func:`compile_for_inference`, mode ``compile_mode``); the first call,
  which compiles, is timed separately and reported as ``compile_s``;
* ``onnxruntime-int8`` (:data:`ALL_MODES`): the fused copy exported and quantized to int8
  (QDQ, per-channel, calibrated on random inputs of the timed shape:
  :func:`mmhybrid.deploy.quantize.quantize_for_benchmark`; latency does not depend on the
  values, accuracy is measured by ``tools/deployment/quantize.py`` on real data).

:func:`compare_deploy_paths` measures every mode at several thread counts, exporting and
quantizing once (the table of docs/en/latency.md).

Every non-eager mode's outputs are compared with eager ones before timing; the relative error
(max |diff| / max |eager|) is reported with the timings.

Example:
    >>> from mmhybrid.deploy import compare_modes
    >>> from mmhybrid.tasks import build_task_model
    >>> task = build_task_model('configs/trt_vit/trt-vit-a_8xb128_in1k.py')
    >>> rows = compare_modes(task.module, task.make_inputs(), warmup=3, runs=10)
    >>> {r.mode: round(r.latency.median_ms, 1) for r in rows}
"""
import copy
import os.path as osp
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from mmhybrid.analysis.latency import (
    LatencyResult,
    benchmark_onnxruntime,
    benchmark_torch,
    make_ort_session,
    set_num_threads,
)
from mmhybrid.utils.progress import progress_bar
from .export import export_onnx, flatten_outputs, relative_error

__all__ = [
    'MODES', 'ALL_MODES', 'ModeMeasurement', 'compare_modes', 'compare_deploy_paths',
    'compile_for_inference'
]

#: Modes measured by default (cheap to set up).
MODES = ('eager', 'fused', 'onnxruntime')
#: Every mode :func:`compare_modes` knows.
ALL_MODES = MODES + ('compiled', 'onnxruntime-int8')


@dataclass
class ModeMeasurement:
    """One mode's latency and its largest relative output error vs eager (0 for eager)."""
    mode: str
    latency: LatencyResult
    rel_error: float = 0.
    compile_s: Optional[float] = None

    def to_dict(self) -> dict:
        extra = {} if self.compile_s is None else dict(compile_s=self.compile_s)
        return dict(mode=self.mode, rel_error=self.rel_error, **extra,
                    **self.latency.to_dict())


def compile_for_inference(module: nn.Module,
                          inputs: torch.Tensor,
                          mode: Optional[str] = None,
                          backend: str = 'inductor') -> Tuple[nn.Module, float, list]:
    """``torch.compile`` a deep copy of ``module`` for inference and compile it now.

    The copy's forward is compiled (:func:`mmhybrid.utils.compile.compile_forward`) and called
    once on ``inputs`` under ``torch.inference_mode``, which triggers the compilation. Inductor
    writes PyTorch's current thread count into the CPU kernels it generates, so set it first
    (:func:`~mmhybrid.analysis.set_num_threads`); it is also made part of the compile-cache key.

    Returns:
        tuple: the compiled copy, the seconds the first call took (compilation included) and
        its outputs (flattened tensors).
    """
    from mmhybrid.utils.compile import compile_forward
    compiled = copy.deepcopy(module).eval()
    compile_forward(compiled, mode=mode, backend=backend, parts=())
    if inputs.device.type == 'cuda':
        torch.cuda.synchronize()
    import torch._inductor.config as inductor_config
    start = time.perf_counter()
    with torch.inference_mode(), inductor_config.patch({'cpp.threads': torch.get_num_threads()}):
        outputs = flatten_outputs(compiled(inputs))
    if inputs.device.type == 'cuda':
        torch.cuda.synchronize()
    return compiled, time.perf_counter() - start, outputs


def compare_modes(module: nn.Module,
                  inputs: torch.Tensor,
                  modes: Sequence[str] = MODES,
                  warmup: int = 5,
                  runs: int = 20,
                  threads: Optional[int] = None,
                  opset: int = 17,
                  workdir: Optional[str] = None,
                  measure_memory: bool = True,
                  compile_mode: Optional[str] = None,
                  progress: bool = False) -> List[ModeMeasurement]:
    """Measure ``module(inputs)`` in each of ``modes`` (see the module docstring).

    ``module`` itself is left unchanged (fusion works on a deep copy). ``threads`` sets the
    onnxruntime intra-op threads (default: PyTorch's current count). ``progress``: a bar on
    stderr, one step per mode measured (:func:`mmhybrid.utils.progress.progress_bar`).
    """
    unknown = set(modes) - set(ALL_MODES)
    if unknown:
        raise ValueError(f'unknown modes {sorted(unknown)}; choose from {ALL_MODES}.')
    module.eval()
    with torch.inference_mode():
        reference = [t.cpu().numpy() for t in flatten_outputs(module(inputs))]
    results = []
    with progress_bar(total=len(set(modes)), desc='modes', unit='mode',
                      progress=progress) as bar:

        def add(measurement: ModeMeasurement) -> None:
            results.append(measurement)
            bar.set_postfix_str(measurement.mode)
            bar.update(1)

        if 'eager' in modes:
            add(ModeMeasurement('eager', benchmark_torch(
                module, inputs, warmup, runs, backend='torch eager',
                measure_memory=measure_memory)))
        if not set(modes) & {'fused', 'onnxruntime', 'compiled', 'onnxruntime-int8'}:
            return results
        from mmhybrid.models.utils import switch_to_deploy
        fused = switch_to_deploy(copy.deepcopy(module))
        if 'fused' in modes:
            with torch.inference_mode():
                error = max(relative_error(
                    [t.cpu().numpy() for t in flatten_outputs(fused(inputs))], reference))
            add(ModeMeasurement('fused', benchmark_torch(
                fused, inputs, warmup, runs, backend='torch fused',
                measure_memory=measure_memory), error))
        if 'compiled' in modes:
            add(_time_compiled(fused, inputs, reference, warmup, runs, measure_memory,
                               compile_mode))
        if 'onnxruntime' in modes:
            with tempfile.TemporaryDirectory(dir=workdir) as tmp:
                path = osp.join(tmp, 'model.onnx')
                export_onnx(fused.cpu(), inputs.detach().cpu(), path, opset=opset)
                fused.to(inputs.device)
                add(_time_onnx('onnxruntime', path, inputs, reference, threads, warmup,
                               runs, measure_memory))
        if 'onnxruntime-int8' in modes:
            with tempfile.TemporaryDirectory(dir=workdir) as tmp:
                path = _quantize(fused, inputs, tmp, threads)
                add(_time_onnx('onnxruntime-int8', path, inputs, reference, threads,
                               warmup, runs, measure_memory))
            fused.to(inputs.device)
        return results


def _quantize(fused: nn.Module, inputs: torch.Tensor, workdir: str,
              threads: Optional[int]) -> str:
    from .quantize import quantize_for_benchmark
    return quantize_for_benchmark(fused.cpu(), inputs.detach().cpu(), workdir, threads=threads)


def _time_compiled(module: nn.Module, inputs: torch.Tensor, reference, warmup, runs,
                   measure_memory, compile_mode) -> ModeMeasurement:
    compiled, compile_s, outputs = compile_for_inference(module, inputs, compile_mode)
    error = max(relative_error([t.cpu().numpy() for t in outputs], reference))
    latency = benchmark_torch(compiled, inputs, warmup, runs, backend='torch compiled',
                              measure_memory=measure_memory)
    return ModeMeasurement('compiled', latency, error, compile_s)


def _time_onnx(mode: str, path: str, inputs: torch.Tensor, reference, threads, warmup, runs,
               measure_memory) -> ModeMeasurement:
    session = make_ort_session(path, threads=threads, device=inputs.device.type)
    array = inputs.detach().cpu().numpy()
    name = session.get_inputs()[0].name
    error = max(relative_error(session.run(None, {name: array}), reference))
    latency = benchmark_onnxruntime(session, array, warmup, runs, measure_memory=measure_memory)
    latency.backend = mode
    return ModeMeasurement(mode, latency, error)


def compare_deploy_paths(module: nn.Module,
                         inputs: torch.Tensor,
                         threads: Sequence[int] = (1, 2),
                         warmup: int = 3,
                         runs: int = 10,
                         compile_mode: Optional[str] = None,
                         workdir: Optional[str] = None,
                         log=None) -> Dict[int, List[ModeMeasurement]]:
    """Every deploy path of ``module`` (all of :data:`ALL_MODES`) at each thread count.

    The fused copy is made, exported and quantized once; eager, fused, onnxruntime fp32 and
    int8 are timed at every thread count, and the compiled model is compiled anew for each
    (inductor bakes the thread count into its kernels). Peak memory is not measured.

    Returns:
        dict: thread count -> measurements in the order of :data:`ALL_MODES`.
    """
    from mmhybrid.models.utils import switch_to_deploy
    log = log or (lambda message: None)
    module.eval()
    with torch.inference_mode():
        reference = [t.cpu().numpy() for t in flatten_outputs(module(inputs))]
    fused = switch_to_deploy(copy.deepcopy(module))
    with torch.inference_mode():
        fused_error = max(relative_error(
            [t.cpu().numpy() for t in flatten_outputs(fused(inputs))], reference))
    results: Dict[int, List[ModeMeasurement]] = {}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        log('exporting and quantizing')
        int8_path = _quantize(fused, inputs, tmp, max(threads))
        fused.to(inputs.device)
        fp32_path = osp.join(tmp, 'model_fp32.onnx')
        for count in threads:
            set_num_threads(count)
            rows = [ModeMeasurement('eager', benchmark_torch(
                module, inputs, warmup, runs, backend='torch eager', measure_memory=False))]
            rows.append(ModeMeasurement('fused', benchmark_torch(
                fused, inputs, warmup, runs, backend='torch fused', measure_memory=False),
                fused_error))
            log(f'{count} threads: compiling')
            torch._dynamo.reset()
            rows.append(_time_compiled(fused, inputs, reference, warmup, runs, False,
                                       compile_mode))
            torch._dynamo.reset()
            rows.append(_time_onnx('onnxruntime', fp32_path, inputs, reference, count, warmup,
                                   runs, False))
            rows.append(_time_onnx('onnxruntime-int8', int8_path, inputs, reference, count,
                                   warmup, runs, False))
            results[count] = rows
    return results
