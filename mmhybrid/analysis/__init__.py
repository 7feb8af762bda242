# Copyright (c) mmhybrid contributors. All rights reserved.
"""Analysis tools: parameters/FLOPs (attention counted), latency and memory, ONNX export with
onnxruntime parity, building the measured module of any cls/det/seg config, and the model zoo.

The command-line tools under ``tools/analysis_tools`` and ``tools/deployment`` are thin layers
over this package.
"""
from .compare import (
    ALL_MODES,
    MODES,
    ModeMeasurement,
    compare_deploy_paths,
    compare_modes,
    compile_for_inference,
)
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
from .model_zoo import (
    END_MARKER,
    START_MARKER,
    ModelEntry,
    check_metafiles,
    extract_model_zoo,
    list_configs,
    load_model_index,
    match_models,
    model_zoo_in_sync,
    render_model_zoo,
    replace_model_zoo,
)
from .onnx_export import (
    DEFAULT_RTOL,
    DYNAMIC_CHECK_OFFSETS,
    OnnxParityError,
    ParityResult,
    check_onnx_parity,
    dynamic_check_size,
    export_and_check,
    export_onnx,
    flatten_outputs,
    relative_error,
)
from .task_model import (
    BASELINE_CONFIGS,
    TASK_SCOPES,
    TaskModel,
    build_detector_head_probe,
    build_task_model,
    default_input_shape,
    load_config,
    plain_model_cfg,
    randomise_bn_statistics,
)

__all__ = [
    'ALL_MODES', 'MODES', 'ModeMeasurement', 'compare_deploy_paths', 'compare_modes',
    'compile_for_inference',
    'ATTENTION_OPS', 'ComplexityResult', 'count_complexity', 'count_parameters', 'flop_handles',
    'sdpa_flop_jit', 'LatencyResult', 'PeakRSSSampler', 'benchmark_onnxruntime',
    'benchmark_torch', 'machine_info', 'make_ort_session', 'measure_latency', 'set_num_threads',
    'END_MARKER', 'START_MARKER', 'ModelEntry', 'check_metafiles', 'extract_model_zoo',
    'list_configs', 'load_model_index', 'match_models', 'model_zoo_in_sync', 'render_model_zoo',
    'replace_model_zoo', 'DEFAULT_RTOL', 'OnnxParityError', 'ParityResult', 'check_onnx_parity',
    'export_and_check', 'export_onnx', 'flatten_outputs', 'relative_error', 'BASELINE_CONFIGS',
    'DYNAMIC_CHECK_OFFSETS', 'dynamic_check_size',
    'TASK_SCOPES', 'TaskModel', 'build_detector_head_probe', 'build_task_model',
    'default_input_shape', 'load_config', 'plain_model_cfg', 'randomise_bn_statistics'
]
