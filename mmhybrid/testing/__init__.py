# Copyright (c) mmhybrid contributors. All rights reserved.
"""Test utilities: tiny synthetic datasets and the config smoke-training harness."""
from .smoke import (TINY_SIZES, SmokeResult, SmokeStopHook, make_smoke_config,
                    run_smoke_training)
from .tiny_datasets import (COCO_CATEGORIES, DATASET_MAKERS, TINY_DATASET_CLASSES, make_ade20k,
                            make_all, make_cityscapes, make_coco, make_coco_stuff10k,
                            make_coco_stuff164k, make_imagenet, make_pascal_context)

__all__ = [
    'COCO_CATEGORIES', 'DATASET_MAKERS', 'SmokeResult', 'SmokeStopHook', 'TINY_DATASET_CLASSES',
    'TINY_SIZES',
    'make_ade20k', 'make_all', 'make_cityscapes', 'make_coco', 'make_coco_stuff10k',
    'make_coco_stuff164k', 'make_imagenet', 'make_pascal_context', 'make_smoke_config',
    'run_smoke_training'
]
