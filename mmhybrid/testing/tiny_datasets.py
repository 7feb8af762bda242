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

Example:
    >>> from mmhybrid.testing import make_ade20k
    >>> data_root = make_ade20k('/tmp/tiny', num_train=16, num_val=8)
    >>> data_root
    '/tmp/tiny/ADEChallengeData2016'
"""
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    'make_ade20k', 'make_cityscapes', 'make_pascal_context', 'make_coco_stuff10k',
    'make_coco_stuff164k', 'make_coco', 'make_imagenet', 'make_all', 'DATASET_MAKERS',
    'TINY_DATASET_CLASSES', 'COCO_CATEGORIES'
]

Size = Tuple[int, int]  # (width, height)


@dataclass(frozen=True)
class _Look:
    """How every object of one class is drawn."""
    shape: str
    colour: Tuple[int, int, int]  # RGB
    texture: str


# One look per present class; dataset ``i``-th object class uses ``_LOOKS[i]``. The hues are
# far apart and saturated while the background is dull, so the classes are separable by colour
# alone, and also by shape and texture.
_LOOKS = (
    _Look('disc', (220, 40, 40), 'flat'),
    _Look('square', (40, 80, 230), 'checker'),
    _Look('triangle', (40, 200, 60), 'stripes_h'),
    _Look('cross', (235, 215, 40), 'dots'),
    _Look('star', (210, 50, 210), 'stripes_v'),
    _Look('diamond', (40, 210, 220), 'checker'),
)

#: Present classes of each tiny dataset, as ``(background, objects)`` where each entry is
#: ``(class index in the stock dataset's METAINFO['classes'], class name)``. The background
#: class (``None`` for datasets without one) fills every pixel not covered by an object or by an
#: ignored blob; object ``i`` is drawn with look ``i`` (shape, colour, texture).
TINY_DATASET_CLASSES = {
    'ade20k': ((0, 'wall'), [(12, 'person'), (20, 'car'), (4, 'tree'), (19, 'chair'),
                             (15, 'table')]),
    'cityscapes': ((0, 'road'), [(11, 'person'), (13, 'car'), (7, 'traffic sign'),
                                 (8, 'vegetation'), (15, 'bus')]),
    'pascal_context': ((56, 'wall'), [(37, 'person'), (14, 'car'), (23, 'dog'), (17, 'chair'),
                                      (10, 'bottle')]),
    'coco_stuff': ((112, 'grass'), [(0, 'person'), (2, 'car'), (16, 'dog'), (56, 'chair'),
                                    (39, 'bottle')]),
    'coco': (None, [(0, 'person'), (2, 'car'), (16, 'dog'), (56, 'chair'), (39, 'bottle')]),
    'imagenet': (None, [(0, 'tench, Tinca tinca'), (1, 'goldfish, Carassius auratus'),
                        (2, 'great white shark, white shark, man-eater, man-eating shark, '
                            'Carcharodon carcharias'),
                        (3, 'tiger shark, Galeocerdo cuvieri'),
                        (4, 'hammerhead, hammerhead shark'),
                        (5, 'electric ray, crampfish, numbfish, torpedo')]),
}

#: WordNet ids of ImageNet-1k classes 0-5 (the folder names of the real training set).
_IMAGENET_WNIDS = ('n01440764', 'n01443537', 'n01484850', 'n01491361', 'n01494475',
                   'n01496331')

#: The 80 COCO categories with their real (non-contiguous) ids, in mmdet's class order.
COCO_CATEGORIES = tuple(
    dict(id=cid, name=name, supercategory=sup) for cid, name, sup in [
        (1, 'person', 'person'), (2, 'bicycle', 'vehicle'), (3, 'car', 'vehicle'),
        (4, 'motorcycle', 'vehicle'), (5, 'airplane', 'vehicle'), (6, 'bus', 'vehicle'),
        (7, 'train', 'vehicle'), (8, 'truck', 'vehicle'), (9, 'boat', 'vehicle'),
        (10, 'traffic light', 'outdoor'), (11, 'fire hydrant', 'outdoor'),
        (13, 'stop sign', 'outdoor'), (14, 'parking meter', 'outdoor'), (15, 'bench', 'outdoor'),
        (16, 'bird', 'animal'), (17, 'cat', 'animal'), (18, 'dog', 'animal'),
        (19, 'horse', 'animal'), (20, 'sheep', 'animal'), (21, 'cow', 'animal'),
        (22, 'elephant', 'animal'), (23, 'bear', 'animal'), (24, 'zebra', 'animal'),
        (25, 'giraffe', 'animal'), (27, 'backpack', 'accessory'), (28, 'umbrella', 'accessory'),
        (31, 'handbag', 'accessory'), (32, 'tie', 'accessory'), (33, 'suitcase', 'accessory'),
        (34, 'frisbee', 'sports'), (35, 'skis', 'sports'), (36, 'snowboard', 'sports'),
        (37, 'sports ball', 'sports'), (38, 'kite', 'sports'), (39, 'baseball bat', 'sports'),
        (40, 'baseball glove', 'sports'), (41, 'skateboard', 'sports'),
        (42, 'surfboard', 'sports'), (43, 'tennis racket', 'sports'), (44, 'bottle', 'kitchen'),
        (46, 'wine glass', 'kitchen'), (47, 'cup', 'kitchen'), (48, 'fork', 'kitchen'),
        (49, 'knife', 'kitchen'), (50, 'spoon', 'kitchen'), (51, 'bowl', 'kitchen'),
        (52, 'banana', 'food'), (53, 'apple', 'food'), (54, 'sandwich', 'food'),
        (55, 'orange', 'food'), (56, 'broccoli', 'food'), (57, 'carrot', 'food'),
        (58, 'hot dog', 'food'), (59, 'pizza', 'food'), (60, 'donut', 'food'),
        (61, 'cake', 'food'), (62, 'chair', 'furniture'), (63, 'couch', 'furniture'),
        (64, 'potted plant', 'furniture'), (65, 'bed', 'furniture'),
        (67, 'dining table', 'furniture'), (70, 'toilet', 'furniture'),
        (72, 'tv', 'electronic'), (73, 'laptop', 'electronic'), (74, 'mouse', 'electronic'),
        (75, 'remote', 'electronic'), (76, 'keyboard', 'electronic'),
        (77, 'cell phone', 'electronic'), (78, 'microwave', 'appliance'),
        (79, 'oven', 'appliance'), (80, 'toaster', 'appliance'), (81, 'sink', 'appliance'),
        (82, 'refrigerator', 'appliance'), (84, 'book', 'indoor'), (85, 'clock', 'indoor'),
        (86, 'vase', 'indoor'), (87, 'scissors', 'indoor'), (88, 'teddy bear', 'indoor'),
        (89, 'hair drier', 'indoor'), (90, 'toothbrush', 'indoor')
    ])


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------
def _shape_polygon(shape: str, cx: float, cy: float, radius: float,
                   angle: float) -> np.ndarray:
    """Vertices ``(N, 2)`` (x, y) of ``shape`` centred at (cx, cy), rotated by ``angle``."""
    if shape == 'disc':
        theta = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        pts = np.stack([np.cos(theta), np.sin(theta)], 1)
    elif shape == 'square':
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * 0.75
    elif shape == 'triangle':
        theta = np.array([-90, 30, 150]) * np.pi / 180
        pts = np.stack([np.cos(theta), np.sin(theta)], 1)
    elif shape == 'diamond':
        pts = np.array([[0, -1], [0.55, 0], [0, 1], [-0.55, 0]])
    elif shape == 'cross':
        a = 0.33
        pts = np.array([[-a, -1], [a, -1], [a, -a], [1, -a], [1, a], [a, a], [a, 1], [-a, 1],
                        [-a, a], [-1, a], [-1, -a], [-a, -a]])
    elif shape == 'star':
        theta = -np.pi / 2 + np.arange(10) * np.pi / 5
        rad = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        pts = np.stack([rad * np.cos(theta), rad * np.sin(theta)], 1)
    else:
        raise ValueError(f'unknown shape {shape!r}')
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return pts @ rot.T * radius + np.array([cx, cy])


def _rasterize(polygon: np.ndarray, size: Size) -> np.ndarray:
    """Boolean ``(H, W)`` mask of a polygon."""
    canvas = Image.new('L', size, 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in polygon.tolist()], fill=1)
    return np.asarray(canvas, dtype=bool)


def _texture(texture: str, size: Size, rng: np.random.Generator) -> np.ndarray:
    """``(H, W)`` pattern in {0, 1} with a random phase."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    x = x + rng.integers(0, 8)
    y = y + rng.integers(0, 8)
    if texture == 'flat':
        return np.zeros((h, w))
    if texture == 'checker':
        return ((x // 4 + y // 4) % 2).astype(float)
    if texture == 'stripes_h':
        return ((y // 3) % 2).astype(float)
    if texture == 'stripes_v':
        return ((x // 3) % 2).astype(float)
    if texture == 'dots':
        return ((x % 6 < 2) & (y % 6 < 2)).astype(float)
    raise ValueError(f'unknown texture {texture!r}')


def _dull_colour(rng: np.random.Generator) -> np.ndarray:
    """A desaturated colour, never confused with the saturated object colours."""
    return rng.uniform(70, 150) + rng.uniform(-15, 15, size=3)


def _background(size: Size, rng: np.random.Generator) -> Tuple[np.ndarray, Image.Image]:
    """A noisy vertical gradient with a few dull lines and boxes as clutter."""
    w, h = size
    top, bottom = _dull_colour(rng), _dull_colour(rng)
    t = np.linspace(0, 1, h)[:, None, None]
    img = (1 - t) * top + t * bottom + np.zeros((h, w, 3))
    clutter = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(clutter)
    for _ in range(rng.integers(3, 9)):
        colour = tuple(int(c) for c in _dull_colour(rng))
        x0, x1 = sorted(rng.uniform(0, w, 2))
        y0, y1 = sorted(rng.uniform(0, h, 2))
        if rng.random() < 0.5:
            draw.line([(x0, y0), (x1, y1)], fill=colour, width=int(rng.integers(1, 4)))
        else:
            draw.rectangle([x0, y0, x0 + (x1 - x0) / 3, y0 + (y1 - y0) / 3], fill=colour)
    return np.asarray(clutter, dtype=np.float64), clutter


@dataclass
class _Object:
    look_index: int
    polygon: np.ndarray
    mask: np.ndarray  # visible part, bool (H, W)


def _render(size: Size,
            rng: np.random.Generator,
            look_indices: Sequence[int],
            radius_range: Tuple[float, float],
            allow_overlap: bool,
            num_ignore_blobs: int = 0) -> Tuple[np.ndarray, List[_Object], np.ndarray]:
    """Draw one scene.

    Returns:
        tuple: the ``(H, W, 3)`` uint8 RGB image, the objects (in drawing order; their masks are
        the visible parts), and an ``(H, W)`` bool mask of the blobs to be labelled "ignore".
    """
    w, h = size
    img, _ = _background(size, rng)
    ignore = np.zeros((h, w), dtype=bool)
    for _ in range(num_ignore_blobs):
        r = rng.uniform(0.05, 0.1) * min(w, h)
        blob = _rasterize(
            _shape_polygon('disc', rng.uniform(0, w), rng.uniform(0, h), r, 0.0), size)
        img[blob] = _dull_colour(rng) * 0.6
        ignore |= blob
    # dull shape distractors: part of the background, so shape alone never decides the class
    for _ in range(rng.integers(0, 3)):
        r = rng.uniform(0.05, 0.12) * min(w, h)
        shape = _LOOKS[rng.integers(len(_LOOKS))].shape
        img[_rasterize(
            _shape_polygon(shape, rng.uniform(0, w), rng.uniform(0, h), r, rng.uniform(0, 3)),
            size)] = _dull_colour(rng)

    objects: List[_Object] = []
    placed = []  # (cx, cy, r) of objects already drawn, for the no-overlap rule
    for look_index in look_indices:
        look = _LOOKS[look_index]
        for _ in range(50):
            r = rng.uniform(*radius_range) * min(w, h)
            cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
            if allow_overlap or all((cx - px)**2 + (cy - py)**2 > (r + pr + 2)**2
                                    for px, py, pr in placed):
                break
        else:
            continue  # no room left for a non-overlapping object
        placed.append((cx, cy, r))
        polygon = _shape_polygon(look.shape, cx, cy, r, rng.uniform(-0.3, 0.3))
        mask = _rasterize(polygon, size)
        if not mask.any():
            continue
        colour = np.array(look.colour) + rng.uniform(-15, 15, size=3)
        shade = 1.0 - 0.45 * _texture(look.texture, size, rng)
        img[mask] = colour * shade[mask][:, None]
        for other in objects:
            other.mask &= ~mask
        ignore &= ~mask
        objects.append(_Object(look_index, polygon, mask))
    img = img + rng.normal(0, 6, size=img.shape)
    return img.clip(0, 255).round().astype(np.uint8), objects, ignore


def _scene_classes(rng: np.random.Generator, num_looks: int, max_objects: int) -> List[int]:
    return list(rng.integers(0, num_looks, size=rng.integers(1, max_objects + 1)))


def _save(path: str, array: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    image = Image.fromarray(array)
    if path.lower().endswith(('.jpg', '.jpeg')):
        image.save(path, quality=92)
    else:
        image.save(path)


def _write_semantic(img_path: str, seg_path: str, size: Size, rng: np.random.Generator,
                    dataset: str, value_of_index, ignore_value: int) -> None:
    """Render a semantic-segmentation sample; ``value_of_index`` maps class index → file value."""
    (bg_index, _), objects_cls = TINY_DATASET_CLASSES[dataset]
    img, objects, ignore = _render(
        size, rng, _scene_classes(rng, len(objects_cls), 4), radius_range=(0.12, 0.3),
        allow_overlap=True, num_ignore_blobs=int(rng.integers(0, 3)))
    seg = np.full(img.shape[:2], value_of_index(bg_index), dtype=np.uint8)
    seg[ignore] = ignore_value
    for obj in objects:
        seg[obj.mask] = value_of_index(objects_cls[obj.look_index][0])
    _save(img_path, img)
    _save(seg_path, seg)


def _split_counts(num_train: int, num_val: int) -> Dict[str, int]:
    if num_train < 1 or num_val < 1:
        raise ValueError(f'num_train and num_val must be >= 1, got {num_train}, {num_val}')
    return dict(train=num_train, val=num_val)


# ----------------------------------------------------------------------------------------------
# Semantic segmentation
# ----------------------------------------------------------------------------------------------
def make_ade20k(root: str,
                num_train: int = 16,
                num_val: int = 8,
                size: Size = (160, 120),
                seed: int = 0) -> str:
    """Write a tiny ADE20K (SceneParsing, ``ADEChallengeData2016``).

    Layout: ``images/{training,validation}/ADE_{train,val}_%08d.jpg`` and
    ``annotations/{training,validation}/ADE_{train,val}_%08d.png``. Annotation values are
    ``class index + 1`` (0 = "other", ignored with ``reduce_zero_label=True``), as in the real
    release read by ``ADE20KDataset``.

    Returns:
        str: ``<root>/ADEChallengeData2016``, the ``data_root`` of ``mmseg::_base_/datasets/ade20k.py``.
    """
    data_root = osp.join(root, 'ADEChallengeData2016')
    rng = np.random.default_rng(seed)
    for split, count in _split_counts(num_train, num_val).items():
        folder = 'training' if split == 'train' else 'validation'
        for i in range(1, count + 1):
            name = f'ADE_{split}_{i:08d}'
            _write_semantic(
                osp.join(data_root, 'images', folder, name + '.jpg'),
                osp.join(data_root, 'annotations', folder, name + '.png'), size, rng,
                'ade20k', lambda idx: idx + 1, ignore_value=0)
    return data_root


def make_cityscapes(root: str,
                    num_train: int = 16,
                    num_val: int = 8,
                    size: Size = (192, 96),
                    seed: int = 0) -> str:
    """Write a tiny Cityscapes (fine annotations, already converted to trainIds).

    Layout: ``leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png`` and
    ``gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelTrainIds.png`` (values 0-18,
    255 = ignore), the output of mmseg's ``tools/dataset_converters/cityscapes.py``. Train
    images are spread over ``aachen`` and ``bochum``, val images are in ``frankfurt``.

    Returns:
        str: ``<root>/cityscapes``, the ``data_root`` of ``mmseg::_base_/datasets/cityscapes.py``.
    """
    data_root = osp.join(root, 'cityscapes')
    rng = np.random.default_rng(seed)
    cities = dict(train=('aachen', 'bochum'), val=('frankfurt', ))
    for split, count in _split_counts(num_train, num_val).items():
        for i in range(count):
            city = cities[split][i % len(cities[split])]
            stem = f'{city}_{i // len(cities[split]):06d}_{19 + i:06d}'
            _write_semantic(
                osp.join(data_root, 'leftImg8bit', split, city, stem + '_leftImg8bit.png'),
                osp.join(data_root, 'gtFine', split, city, stem + '_gtFine_labelTrainIds.png'),
                size, rng, 'cityscapes', lambda idx: idx, ignore_value=255)
    return data_root


def make_pascal_context(root: str,
                        num_train: int = 16,
                        num_val: int = 8,
                        size: Size = (160, 120),
                        seed: int = 0) -> str:
    """Write a tiny PASCAL-Context (VOC2010 with ``SegmentationClassContext``).

    Layout: ``JPEGImages/2008_%06d.jpg``, ``SegmentationClassContext/2008_%06d.png`` and
    ``ImageSets/SegmentationContext/{train,val}.txt``. Mask values are the 60-class indices
    (0 = background), so the same files serve ``PascalContextDataset`` (60 classes) and
    ``PascalContextDataset59`` (``reduce_zero_label=True``: 0 becomes ignore).

    Returns:
        str: ``<root>/VOCdevkit/VOC2010``, the ``data_root`` of
        ``mmseg::_base_/datasets/pascal_context{,_59}.py``.
    """
    data_root = osp.join(root, 'VOCdevkit', 'VOC2010')
    rng = np.random.default_rng(seed)
    split_dir = osp.join(data_root, 'ImageSets', 'SegmentationContext')
    os.makedirs(split_dir, exist_ok=True)
    index = 0
    for split, count in _split_counts(num_train, num_val).items():
        names = []
        for _ in range(count):
            index += 1
            name = f'2008_{index:06d}'
            names.append(name)
            _write_semantic(
                osp.join(data_root, 'JPEGImages', name + '.jpg'),
                osp.join(data_root, 'SegmentationClassContext', name + '.png'), size, rng,
                'pascal_context', lambda idx: idx, ignore_value=0)
        with open(osp.join(split_dir, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(names) + '\n')
    return data_root


def _make_coco_stuff(data_root: str, splits: Dict[str, str], num_train: int, num_val: int,
                     size: Size, seed: int, zero_is_ignore: bool) -> str:
    rng = np.random.default_rng(seed)
    offset = 1 if zero_is_ignore else 0
    index = 0
    for split, count in _split_counts(num_train, num_val).items():
        folder = splits[split]
        for _ in range(count):
            index += 9  # sparse ids like the real COCO image ids
            stem = f'COCO_{folder}_{index:012d}' if zero_is_ignore else f'{index:012d}'
            _write_semantic(
                osp.join(data_root, 'images', folder, stem + '.jpg'),
                osp.join(data_root, 'annotations', folder, stem + '_labelTrainIds.png'), size,
                rng, 'coco_stuff', lambda idx: idx + offset,
                ignore_value=0 if zero_is_ignore else 255)
    return data_root


def make_coco_stuff10k(root: str,
                       num_train: int = 16,
                       num_val: int = 8,
                       size: Size = (160, 120),
                       seed: int = 0) -> str:
    """Write a tiny COCO-Stuff 10k as produced by mmseg's ``coco_stuff10k.py`` converter.

    Layout: ``images/{train2014,test2014}/COCO_{train2014,test2014}_%012d.jpg`` and
    ``annotations/{train2014,test2014}/<same stem>_labelTrainIds.png``. Values are
    ``class index + 1`` of the 171 ``COCOStuffDataset`` classes (0 = unlabeled), to be read with
    ``reduce_zero_label=True`` like ``mmseg::_base_/datasets/coco-stuff10k.py`` does.

    Returns:
        str: ``<root>/coco_stuff10k``, the ``data_root`` of that base config.
    """
    return _make_coco_stuff(
        osp.join(root, 'coco_stuff10k'), dict(train='train2014', val='test2014'), num_train,
        num_val, size, seed, zero_is_ignore=True)


def make_coco_stuff164k(root: str,
                        num_train: int = 16,
                        num_val: int = 8,
                        size: Size = (160, 120),
                        seed: int = 0) -> str:
    """Write a tiny COCO-Stuff 164k as produced by mmseg's ``coco_stuff164k.py`` converter.

    Layout: ``images/{train2017,val2017}/%012d.jpg`` and
    ``annotations/{train2017,val2017}/%012d_labelTrainIds.png`` with class indices 0-170 and
    255 = unlabeled (read with ``reduce_zero_label=False``).

    Returns:
        str: ``<root>/coco_stuff164k``, the ``data_root`` of ``mmseg::_base_/datasets/coco-stuff164k.py``.
    """
    return _make_coco_stuff(
        osp.join(root, 'coco_stuff164k'), dict(train='train2017', val='val2017'), num_train,
        num_val, size, seed, zero_is_ignore=False)


# ----------------------------------------------------------------------------------------------
# Detection / instance segmentation
# ----------------------------------------------------------------------------------------------
def make_coco(root: str,
              num_train: int = 16,
              num_val: int = 8,
              size: Size = (160, 120),
              seed: int = 0) -> str:
    """Write a tiny COCO 2017 instances dataset.

    Layout: ``train2017/%012d.jpg``, ``val2017/%012d.jpg`` and
    ``annotations/instances_{train,val}2017.json`` with the 80 real categories and ids.
    Every image holds 1-4 non-overlapping objects, fully inside the image; each annotation has
    a polygon ``segmentation`` (the exact polygon that was drawn), the polygon's tight ``bbox``
    ``[x, y, w, h]`` and ``area``, ``iscrowd=0`` and a unique id.

    Returns:
        str: ``<root>/coco``, the ``data_root`` of ``mmdet::_base_/datasets/coco_{detection,instance}.py``
        (those configs concatenate it with ``'annotations/...'``, so append a ``/``).
    """
    data_root = osp.join(root, 'coco')
    rng = np.random.default_rng(seed)
    _, objects_cls = TINY_DATASET_CLASSES['coco']
    cat_ids = [COCO_CATEGORIES[idx]['id'] for idx, _ in objects_cls]
    os.makedirs(osp.join(data_root, 'annotations'), exist_ok=True)
    image_id = ann_id = 0
    for split, count in _split_counts(num_train, num_val).items():
        images, annotations = [], []
        for _ in range(count):
            image_id += 7
            file_name = f'{image_id:012d}.jpg'
            img, objects, _ = _render(
                size, rng, _scene_classes(rng, len(objects_cls), 4), radius_range=(0.1, 0.28),
                allow_overlap=False)
            _save(osp.join(data_root, f'{split}2017', file_name), img)
            images.append(
                dict(id=image_id, file_name=file_name, width=size[0], height=size[1], license=1))
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
                        area=float(abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1)))
                                   / 2),
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
            images=images,
            annotations=annotations,
            categories=[dict(c) for c in COCO_CATEGORIES])
        with open(osp.join(data_root, 'annotations', f'instances_{split}2017.json'), 'w') as f:
            json.dump(coco, f)
    return data_root


# ----------------------------------------------------------------------------------------------
# Classification
# ----------------------------------------------------------------------------------------------
def make_imagenet(root: str,
                  num_train: int = 24,
                  num_val: int = 12,
                  size: Size = (96, 80),
                  seed: int = 0) -> str:
    """Write a tiny ImageNet-1k in mmpretrain's layout, with six classes (labels 0-5).

    Layout: ``train/<wnid>/<wnid>_%d.JPEG``, ``val/ILSVRC2012_val_%08d.JPEG`` and
    ``meta/{train,val}.txt`` (``<path relative to the split folder> <label>`` per line). Labels
    are the real ImageNet-1k indices of the six classes (tench ... electric ray, wnids
    ``n01440764`` ... ``n01496331``), so the default 1000 ``ImageNet`` classes apply. The meta
    files are required: without ``ann_file``, mmpretrain scans the class folders and asserts
    there are 1000 of them. Images are spread round-robin over the classes; each shows one
    large object of its class plus small dull distractors.

    Returns:
        str: ``<root>/imagenet``, the ``data_root`` of mmpretrain's ImageNet base configs
        (``split='train'``/``'val'`` finds ``meta/<split>.txt`` by itself).
    """
    data_root = osp.join(root, 'imagenet')
    rng = np.random.default_rng(seed)
    _, classes = TINY_DATASET_CLASSES['imagenet']
    os.makedirs(osp.join(data_root, 'meta'), exist_ok=True)
    for split, count in _split_counts(num_train, num_val).items():
        lines = []
        for i in range(count):
            look_index = i % len(classes)
            label = classes[look_index][0]
            img, _, _ = _render(
                size, rng, [look_index], radius_range=(0.28, 0.45), allow_overlap=False)
            if split == 'train':
                wnid = _IMAGENET_WNIDS[label]
                rel = f'{wnid}/{wnid}_{i + 1}.JPEG'
            else:
                rel = f'ILSVRC2012_val_{i + 1:08d}.JPEG'
            _save(osp.join(data_root, split, rel), img)
            lines.append(f'{rel} {label}')
        with open(osp.join(data_root, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return data_root


#: Name -> maker, the keys accepted by :func:`make_all`.
DATASET_MAKERS = dict(
    ade20k=make_ade20k,
    cityscapes=make_cityscapes,
    pascal_context=make_pascal_context,
    coco_stuff10k=make_coco_stuff10k,
    coco_stuff164k=make_coco_stuff164k,
    coco=make_coco,
    imagenet=make_imagenet)


def make_all(root: str,
             names: Optional[Sequence[str]] = None,
             seed: int = 0,
             **kwargs) -> Dict[str, str]:
    """Write every tiny dataset (or those in ``names``) under ``root``.

    Args:
        root (str): The parent folder.
        names (Sequence[str], optional): Keys among ``ade20k``, ``cityscapes``,
            ``pascal_context``, ``coco_stuff10k``, ``coco_stuff164k``, ``coco``, ``imagenet``.
            Defaults to all of them.
        seed (int): Base seed; each dataset uses it unchanged.
        **kwargs: ``num_train``/``num_val`` passed to every maker.

    Returns:
        dict[str, str]: the ``data_root`` of each dataset written, keyed by name.
    """
    names = list(DATASET_MAKERS) if names is None else list(names)
    unknown = sorted(set(names) - set(DATASET_MAKERS))
    if unknown:
        raise ValueError(
            f'unknown tiny datasets {unknown}; choose from {sorted(DATASET_MAKERS)}')
    return {name: DATASET_MAKERS[name](root, seed=seed, **kwargs) for name in names}
