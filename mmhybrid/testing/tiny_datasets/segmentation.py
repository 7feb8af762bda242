# Copyright (c) mmhybrid contributors. All rights reserved.
"""Semantic segmentation: tiny ADE20K, Cityscapes, PASCAL-Context and COCO-Stuff (10k, 164k)."""
from typing import Dict, List, Optional, Tuple

import numpy as np

from .classes import TINY_DATASET_CLASSES
from .render import Size, _render, _scene_classes
from .writing import _make, _Plan, _split_counts, _Writer


def _write_semantic(writer: _Writer, img_rel: str, seg_rel: str, size: Size,
                    rng: np.random.Generator, dataset: str, value_of_index,
                    ignore_value: int) -> None:
    """Render a semantic-segmentation sample; ``value_of_index`` maps class index → file value."""
    (bg_index, _), objects_cls = TINY_DATASET_CLASSES[dataset]
    img, objects, ignore = _render(
        size, rng, _scene_classes(rng, len(objects_cls), 4), radius_range=(0.12, 0.3),
        allow_overlap=True, num_ignore_blobs=int(rng.integers(0, 3)))
    seg = np.full(img.shape[:2], value_of_index(bg_index), dtype=np.uint8)
    seg[ignore] = ignore_value
    for obj in objects:
        seg[obj.mask] = value_of_index(objects_cls[obj.look_index][0])
    writer.image(img_rel, img)
    writer.image(seg_rel, seg)


def _semantic_plan(folder: str, pairs: List[Tuple[str, str]], size: Size, seed: int,
                   dataset: str, value_of_index, ignore_value: int,
                   texts: Optional[Dict[str, str]] = None) -> _Plan:
    """Plan ``(image, label map)`` file pairs, rendered in order from one seed, plus texts."""
    texts = texts or {}

    def write(writer: _Writer) -> None:
        rng = np.random.default_rng(seed)
        for img_rel, seg_rel in pairs:
            _write_semantic(writer, img_rel, seg_rel, size, rng, dataset, value_of_index,
                            ignore_value)
        for rel, text in texts.items():
            writer.text(rel, text)

    return _Plan(folder, [rel for pair in pairs for rel in pair] + list(texts), write)



def _plan_ade20k(num_train: int, num_val: int, size: Size, seed: int) -> _Plan:
    pairs = []
    for split, count in _split_counts(num_train, num_val).items():
        folder = 'training' if split == 'train' else 'validation'
        for i in range(1, count + 1):
            name = f'ADE_{split}_{i:08d}'
            pairs.append((f'images/{folder}/{name}.jpg', f'annotations/{folder}/{name}.png'))
    return _semantic_plan('ADEChallengeData2016', pairs, size, seed, 'ade20k',
                          lambda idx: idx + 1, ignore_value=0)


def make_ade20k(root: str,
                num_train: int = 16,
                num_val: int = 8,
                size: Size = (160, 120),
                seed: int = 0,
                overwrite: bool = False) -> str:
    """Write a tiny ADE20K (SceneParsing, ``ADEChallengeData2016``).

    Layout: ``images/{training,validation}/ADE_{train,val}_%08d.jpg`` and
    ``annotations/{training,validation}/ADE_{train,val}_%08d.png``. Annotation values are
    ``class index + 1`` (0 = "other", ignored with ``reduce_zero_label=True``), as in the real
    release read by ``ADE20KDataset``. ``overwrite`` and the refusals are those of
    :func:`make_all`.

    Returns:
        str: ``<root>/ADEChallengeData2016``, the ``data_root`` of
        ``mmseg::_base_/datasets/ade20k.py``.
    """
    return _make(root, [_plan_ade20k(num_train, num_val, size, seed)], overwrite)[0]


def _plan_cityscapes(num_train: int, num_val: int, size: Size, seed: int) -> _Plan:
    cities = dict(train=('aachen', 'bochum'), val=('frankfurt', ))
    pairs = []
    for split, count in _split_counts(num_train, num_val).items():
        for i in range(count):
            city = cities[split][i % len(cities[split])]
            stem = f'{city}_{i // len(cities[split]):06d}_{19 + i:06d}'
            pairs.append((f'leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png',
                          f'gtFine/{split}/{city}/{stem}_gtFine_labelTrainIds.png'))
    return _semantic_plan('cityscapes', pairs, size, seed, 'cityscapes', lambda idx: idx,
                          ignore_value=255)


def make_cityscapes(root: str,
                    num_train: int = 16,
                    num_val: int = 8,
                    size: Size = (192, 96),
                    seed: int = 0,
                    overwrite: bool = False) -> str:
    """Write a tiny Cityscapes (fine annotations, already converted to trainIds).

    Layout: ``leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png`` and
    ``gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelTrainIds.png`` (values 0-18,
    255 = ignore), the output of mmseg's ``tools/dataset_converters/cityscapes.py``. Train
    images are spread over ``aachen`` and ``bochum``, val images are in ``frankfurt``.
    ``overwrite`` and the refusals are those of :func:`make_all`.

    Returns:
        str: ``<root>/cityscapes``, the ``data_root`` of ``mmseg::_base_/datasets/cityscapes.py``.
    """
    return _make(root, [_plan_cityscapes(num_train, num_val, size, seed)], overwrite)[0]


def _plan_pascal_context(num_train: int, num_val: int, size: Size, seed: int) -> _Plan:
    pairs, split_lists, index = [], {}, 0
    for split, count in _split_counts(num_train, num_val).items():
        names = []
        for _ in range(count):
            index += 1
            name = f'2008_{index:06d}'
            names.append(name)
            pairs.append((f'JPEGImages/{name}.jpg', f'SegmentationClassContext/{name}.png'))
        split_lists[f'ImageSets/SegmentationContext/{split}.txt'] = '\n'.join(names) + '\n'
    return _semantic_plan('VOCdevkit/VOC2010', pairs, size, seed, 'pascal_context',
                          lambda idx: idx, ignore_value=0, texts=split_lists)


def make_pascal_context(root: str,
                        num_train: int = 16,
                        num_val: int = 8,
                        size: Size = (160, 120),
                        seed: int = 0,
                        overwrite: bool = False) -> str:
    """Write a tiny PASCAL-Context (VOC2010 with ``SegmentationClassContext``).

    Layout: ``JPEGImages/2008_%06d.jpg``, ``SegmentationClassContext/2008_%06d.png`` and
    ``ImageSets/SegmentationContext/{train,val}.txt``. Mask values are the 60-class indices
    (0 = background), so the same files serve ``PascalContextDataset`` (60 classes) and
    ``PascalContextDataset59`` (``reduce_zero_label=True``: 0 becomes ignore). ``overwrite``
    and the refusals are those of :func:`make_all`.

    Returns:
        str: ``<root>/VOCdevkit/VOC2010``, the ``data_root`` of
        ``mmseg::_base_/datasets/pascal_context{,_59}.py``.
    """
    return _make(root, [_plan_pascal_context(num_train, num_val, size, seed)], overwrite)[0]


def _plan_coco_stuff(folder: str, splits: Dict[str, str], num_train: int, num_val: int,
                     size: Size, seed: int, zero_is_ignore: bool) -> _Plan:
    offset = 1 if zero_is_ignore else 0
    pairs, index = [], 0
    for split, count in _split_counts(num_train, num_val).items():
        split_folder = splits[split]
        for _ in range(count):
            index += 9  # sparse ids like the real COCO image ids
            stem = f'COCO_{split_folder}_{index:012d}' if zero_is_ignore else f'{index:012d}'
            pairs.append((f'images/{split_folder}/{stem}.jpg',
                          f'annotations/{split_folder}/{stem}_labelTrainIds.png'))
    return _semantic_plan(folder, pairs, size, seed, 'coco_stuff', lambda idx: idx + offset,
                          ignore_value=0 if zero_is_ignore else 255)


def _plan_coco_stuff10k(num_train: int, num_val: int, size: Size, seed: int) -> _Plan:
    return _plan_coco_stuff('coco_stuff10k', dict(train='train2014', val='test2014'),
                            num_train, num_val, size, seed, zero_is_ignore=True)


def make_coco_stuff10k(root: str,
                       num_train: int = 16,
                       num_val: int = 8,
                       size: Size = (160, 120),
                       seed: int = 0,
                       overwrite: bool = False) -> str:
    """Write a tiny COCO-Stuff 10k as produced by mmseg's ``coco_stuff10k.py`` converter.

    Layout: ``images/{train2014,test2014}/COCO_{train2014,test2014}_%012d.jpg`` and
    ``annotations/{train2014,test2014}/<same stem>_labelTrainIds.png``. Values are
    ``class index + 1`` of the 171 ``COCOStuffDataset`` classes (0 = unlabeled), to be read with
    ``reduce_zero_label=True`` like ``mmseg::_base_/datasets/coco-stuff10k.py`` does.
    ``overwrite`` and the refusals are those of :func:`make_all`.

    Returns:
        str: ``<root>/coco_stuff10k``, the ``data_root`` of that base config.
    """
    return _make(root, [_plan_coco_stuff10k(num_train, num_val, size, seed)], overwrite)[0]


def _plan_coco_stuff164k(num_train: int, num_val: int, size: Size, seed: int) -> _Plan:
    return _plan_coco_stuff('coco_stuff164k', dict(train='train2017', val='val2017'),
                            num_train, num_val, size, seed, zero_is_ignore=False)


def make_coco_stuff164k(root: str,
                        num_train: int = 16,
                        num_val: int = 8,
                        size: Size = (160, 120),
                        seed: int = 0,
                        overwrite: bool = False) -> str:
    """Write a tiny COCO-Stuff 164k as produced by mmseg's ``coco_stuff164k.py`` converter.

    Layout: ``images/{train2017,val2017}/%012d.jpg`` and
    ``annotations/{train2017,val2017}/%012d_labelTrainIds.png`` with class indices 0-170 and
    255 = unlabeled (read with ``reduce_zero_label=False``). ``overwrite`` and the refusals
    are those of :func:`make_all`.

    Returns:
        str: ``<root>/coco_stuff164k``, the ``data_root`` of
        ``mmseg::_base_/datasets/coco-stuff164k.py``.
    """
    return _make(root, [_plan_coco_stuff164k(num_train, num_val, size, seed)], overwrite)[0]

