# Copyright (c) mmhybrid contributors. All rights reserved.
"""Tiny synthetic datasets in the exact on-disk layouts of the real benchmarks.

Every ``make_*`` function writes a few dozen small images into a folder laid out like the
real dataset, so the *stock* dataset classes and base configs read it unchanged
(``ADE20KDataset``, ``CityscapesDataset``, ``PascalContextDataset(59)``,
``COCOStuffDataset``, mmdet ``CocoDataset`` and mmpretrain ``ImageNet``). Each returns the
folder to put into the config's ``data_root``.

The content is learnable rather than random noise: every image shows objects whose class
decides the shape, the colour and the texture (a red flat disc, a blue checkered square, a
green striped triangle, ...), at several scales and positions, on a cluttered, noisy
background. Only a handful of classes occur, but every label id written is the id of that
class in the full label set of the benchmark (e.g. ADE20K ``person`` is stored as 13, COCO
``dog`` has category id 18), so models keep their real ``num_classes``.

Everything is deterministic given ``seed``. Sizes are ``(width, height)`` like mmcv scales.

The makers never write over files they did not write, so pointing one at a real dataset
(``data/`` instead of ``data/tiny``) cannot mix synthetic images into it: the target folder must
be empty or new, or earlier output of these makers (recognised by the file
:data:`MARKER_NAME` in it, which lists every file written there); ``overwrite=True`` lifts that
rule but still no existing file outside the list is replaced. Every file is planned before the
first one is written, and any refusal (:class:`FileExistsError`) leaves the folder untouched.
See :func:`make_all`.

Example:
    >>> from mmhybrid.testing import make_ade20k
    >>> data_root = make_ade20k('/tmp/tiny', num_train=16, num_val=8)
    >>> data_root
    '/tmp/tiny/ADEChallengeData2016'
"""
from .all_datasets import DATASET_MAKERS, make_all
from .classes import COCO_CATEGORIES, TINY_DATASET_CLASSES
from .classification import make_imagenet
from .detection import make_coco
from .segmentation import (
    make_ade20k,
    make_cityscapes,
    make_coco_stuff10k,
    make_coco_stuff164k,
    make_pascal_context,
)
from .writing import MARKER_NAME

__all__ = [
    'make_ade20k', 'make_cityscapes', 'make_pascal_context', 'make_coco_stuff10k',
    'make_coco_stuff164k', 'make_coco', 'make_imagenet', 'make_all', 'DATASET_MAKERS',
    'TINY_DATASET_CLASSES', 'COCO_CATEGORIES', 'MARKER_NAME'
]
