# Copyright (c) mmhybrid contributors. All rights reserved.
"""A config's task: the library it runs in (:mod:`.scope`) and the model built from it, in the
form the measurement and deployment tools use (:mod:`.task_model`).

Sits above :mod:`mmhybrid.models` and below :mod:`mmhybrid.analysis`, :mod:`mmhybrid.deploy`
and :mod:`mmhybrid.apis`, which all build models this way (``tests/test_layering.py``).
"""
from .scope import TASK_SCOPES, config_scope, default_scope, task_scope
from .task_model import (
    BASELINE_CONFIGS,
    TaskModel,
    build_detector_head_probe,
    build_task_model,
    default_input_shape,
    load_config,
    plain_model_cfg,
    quiet_mmengine_logger,
    randomise_bn_statistics,
)

__all__ = [
    'TASK_SCOPES', 'config_scope', 'default_scope', 'task_scope', 'BASELINE_CONFIGS',
    'TaskModel', 'build_detector_head_probe', 'build_task_model', 'default_input_shape',
    'load_config', 'plain_model_cfg', 'quiet_mmengine_logger', 'randomise_bn_statistics'
]
