# Copyright (c) mmhybrid contributors. All rights reserved.
"""Everything that turns a trained model into a deployable one.

* :mod:`.export`: ONNX export (static, dynamic) with onnxruntime parity checks;
* :mod:`.mobile`, :mod:`.mobile_check`: the ``--mobile`` profile for NNAPI / CoreML and ORT's
  partition checks;
* :mod:`.graph`, :mod:`.ort`: the graph editor and ORT's offline optimizer, shared by the mobile
  and the int8 passes (:mod:`.int8_passes`);
* :mod:`.quantize`, :mod:`.data`, :mod:`.evaluate`, :mod:`.quantize_pipeline`: int8 static
  quantization, calibrated and scored on a config's data with the config's evaluator;
* :mod:`.compare`: the deploy paths (eager, fused, compiled, onnxruntime, int8) timed and
  checked side by side.

The command-line tools under ``tools/deployment`` (and the deploy-path tables of
``tools/analysis_tools``) are thin layers over this package; the models come from
:mod:`mmhybrid.tasks`, the timings from :mod:`mmhybrid.analysis`.
"""
from .compare import (
    ALL_MODES,
    MODES,
    ModeMeasurement,
    compare_deploy_paths,
    compare_modes,
    compile_for_inference,
)
from .export import (
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

__all__ = [
    'ALL_MODES', 'MODES', 'ModeMeasurement', 'compare_deploy_paths', 'compare_modes',
    'compile_for_inference', 'DEFAULT_RTOL', 'DYNAMIC_CHECK_OFFSETS', 'OnnxParityError',
    'ParityResult', 'check_onnx_parity', 'dynamic_check_size', 'export_and_check', 'export_onnx',
    'flatten_outputs', 'relative_error'
]
