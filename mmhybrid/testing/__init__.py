# Copyright (c) mmhybrid contributors. All rights reserved.
"""Tiny synthetic datasets in the real layouts (``tools/dataset_converters/make_tiny_datasets.py``).

Importing this package registers nothing; the config smoke-training harness that the tests use
lives in ``tests/smoke.py``.
"""
from .tiny_datasets import (
    COCO_CATEGORIES,
    DATASET_MAKERS,
    TINY_DATASET_CLASSES,
    make_ade20k,
    make_all,
    make_cityscapes,
    make_coco,
    make_coco_stuff10k,
    make_coco_stuff164k,
    make_imagenet,
    make_pascal_context,
)

__all__ = [
    'COCO_CATEGORIES', 'DATASET_MAKERS', 'TINY_DATASET_CLASSES', 'make_ade20k', 'make_all',
    'make_cityscapes', 'make_coco', 'make_coco_stuff10k', 'make_coco_stuff164k', 'make_imagenet',
    'make_pascal_context'
]
