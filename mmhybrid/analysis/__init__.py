# Copyright (c) mmhybrid contributors. All rights reserved.
"""Measurement: parameters/FLOPs (attention counted), latency and memory, and the effective
training recipe a config describes (:mod:`.recipe`: read from the config, nothing changed).

Models are built with :mod:`mmhybrid.tasks`; turning them into deployable files is
:mod:`mmhybrid.deploy`. The command-line tools under ``tools/analysis_tools`` are thin layers
over these packages.
"""
from .complexity import (
    ATTENTION_OPS,
    ComplexityResult,
    count_complexity,
    count_parameters,
    flop_handles,
    sdpa_flop_jit,
)
from .latency import (
    LatencyResult,
    PeakRSSSampler,
    benchmark_onnxruntime,
    benchmark_torch,
    machine_info,
    make_ort_session,
    measure_latency,
    set_num_threads,
)

__all__ = [
    'ATTENTION_OPS', 'ComplexityResult', 'count_complexity', 'count_parameters', 'flop_handles',
    'sdpa_flop_jit', 'LatencyResult', 'PeakRSSSampler', 'benchmark_onnxruntime',
    'benchmark_torch', 'machine_info', 'make_ort_session', 'measure_latency', 'set_num_threads'
]
