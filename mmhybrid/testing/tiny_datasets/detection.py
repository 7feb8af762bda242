# Copyright (c) mmhybrid contributors. All rights reserved.
"""Detection / instance segmentation: a tiny COCO 2017 with the 80 real categories."""
import json
from typing import Dict, List, Tuple

import numpy as np

from .classes import COCO_CATEGORIES, TINY_DATASET_CLASSES
from .render import Size, _render, _scene_classes
from .writing import _make, _Plan, _split_counts, _Writer


def _plan_coco(num_train: int, num_val: int, size: Size, seed: int) -> _Plan:
    images: Dict[str, List[Tuple[int, str]]] = {}  # split -> [(image id, file name)]
    image_id = 0
    for split, count in _split_counts(num_train, num_val).items():
        images[split] = []
        for _ in range(count):
            image_id += 7
            images[split].append((image_id, f'{image_id:012d}.jpg'))
    ann_files = {split: f'annotations/instances_{split}2017.json' for split in images}

    def write(writer: _Writer) -> None:
        rng = np.random.default_rng(seed)
        _, objects_cls = TINY_DATASET_CLASSES['coco']
        cat_ids = [COCO_CATEGORIES[idx]['id'] for idx, _ in objects_cls]
        ann_id = 0
        for split, split_images in images.items():
            image_infos, annotations = [], []
            for image_id, file_name in split_images:
                img, objects, _ = _render(
                    size, rng, _scene_classes(rng, len(objects_cls), 4),
                    radius_range=(0.1, 0.28), allow_overlap=False)
                writer.image(f'{split}2017/{file_name}', img)
                image_infos.append(
                    dict(id=image_id, file_name=file_name, width=size[0], height=size[1],
                         license=1))
                for obj in objects:
                    xs, ys = obj.polygon[:, 0], obj.polygon[:, 1]
                    ann_id += 1
                    annotations.append(
                        dict(
                            id=ann_id,
                            image_id=image_id,
                            category_id=cat_ids[obj.look_index],
                            segmentation=[[round(float(v), 2) for v in obj.polygon.reshape(-1)]],
                            # shoelace area and tight bounds of the polygon, like the real COCO
                            area=float(
                                abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))) / 2),
                            bbox=[
                                float(xs.min()),
                                float(ys.min()),
                                float(xs.max() - xs.min()),
                                float(ys.max() - ys.min())
                            ],
                            iscrowd=0))
            coco = dict(
                info=dict(description='mmhybrid tiny synthetic COCO', version='1.0', year=2017),
                licenses=[dict(id=1, name='CC0', url='')],
                images=image_infos,
                annotations=annotations,
                categories=[dict(c) for c in COCO_CATEGORIES])
            writer.text(ann_files[split], json.dumps(coco))

    files = [f'{split}2017/{name}' for split, split_images in images.items()
             for _, name in split_images]
    return _Plan('coco', files + list(ann_files.values()), write)


def make_coco(root: str,
              num_train: int = 16,
              num_val: int = 8,
              size: Size = (160, 120),
              seed: int = 0,
              overwrite: bool = False) -> str:
    """Write a tiny COCO 2017 instances dataset.

    Layout: ``train2017/%012d.jpg``, ``val2017/%012d.jpg`` and
    ``annotations/instances_{train,val}2017.json`` with the 80 real categories and ids.
    Every image holds 1-4 non-overlapping objects, fully inside the image; each annotation has
    a polygon ``segmentation`` (the exact polygon that was drawn), the polygon's tight ``bbox``
    ``[x, y, w, h]`` and ``area``, ``iscrowd=0`` and a unique id. ``overwrite`` and the
    refusals are those of :func:`make_all`.

    Returns:
        str: ``<root>/coco``, the ``data_root`` of
        ``mmdet::_base_/datasets/coco_{detection,instance}.py`` (those configs concatenate it with
        ``'annotations/...'``, so append a ``/``).
    """
    return _make(root, [_plan_coco(num_train, num_val, size, seed)], overwrite)[0]

