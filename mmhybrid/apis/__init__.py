# Copyright (c) mmhybrid contributors. All rights reserved.
"""Models by name, for every task: list, build and run the project's models.

>>> from mmhybrid.apis import Inferencer, get_model, inference_model, list_models
>>> list_models('topformer-t*', task='classification')
['topformer-t_8xb128_in1k']
>>> list_models('*ade20k*', task='segmentation')[:2]
['fpn_edgevit-s_4xb4-80k_ade20k-512x512', 'fpn_edgevit-xs_4xb4-80k_ade20k-512x512']

Importing :mod:`mmhybrid` also registers the classification models into MMPretrain's model hub
(lazily: when MMPretrain gets imported), so ``mmpretrain.get_model(name)`` knows them.
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

__all__ = [
    'FETCH_COMMAND', 'Inferencer', 'get_model', 'inference_model', 'load_weights',
    'TASK_ALIASES', 'UnknownModelError', 'find_model_index', 'list_models',
    'register_into_mmpretrain', 'register_into_mmpretrain_lazily', 'resolve_model'
]
