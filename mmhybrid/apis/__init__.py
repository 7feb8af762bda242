# Copyright (c) mmhybrid contributors. All rights reserved.
"""Models by name, for every task: list, build and run the project's models.

>>> from mmhybrid.apis import Inferencer, get_model, inference_model, list_models
>>> list_models('topformer-t*', task='classification')
['topformer-t_8xb128_in1k']
>>> list_models('*ade20k*', task='segmentation')[:2]
['fpn_edgevit-s_4xb4-80k_ade20k-512x512', 'fpn_edgevit-xs_4xb4-80k_ade20k-512x512']

Importing :mod:`mmhybrid.apis` (not plain ``import mmhybrid``) registers the classification
models into MMPretrain's model hub with :func:`register_into_mmpretrain_lazily`: at once if
MMPretrain's hub is already imported, else when it gets imported, so that
``mmpretrain.get_model(name)`` knows them without this import costing MMPretrain's import.
"""
from .inference import FETCH_COMMAND, Inferencer, get_model, inference_model, load_weights
from .model_index import (
    TASK_ALIASES,
    UnknownModelError,
    find_model_index,
    list_models,
    register_into_mmpretrain,
    register_into_mmpretrain_lazily,
    resolve_model,
)


def _register_model_index() -> None:
    """The explicit hub registration of this package (see the module docstring). A broken
    index must not break ``import mmhybrid.apis``: failures are warnings."""
    try:
        register_into_mmpretrain_lazily()
    except Exception as exc:  # noqa: BLE001
        import warnings
        warnings.warn(f'mmhybrid: models not registered into mmpretrain by name: {exc}')


_register_model_index()

__all__ = [
    'FETCH_COMMAND', 'Inferencer', 'get_model', 'inference_model', 'load_weights',
    'TASK_ALIASES', 'UnknownModelError', 'find_model_index', 'list_models',
    'register_into_mmpretrain', 'register_into_mmpretrain_lazily', 'resolve_model'
]
