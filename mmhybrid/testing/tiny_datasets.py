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
import inspect
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
from PIL import Image, ImageDraw

from ..utils.fileio import atomic_output, atomic_write_bytes

__all__ = [
    'make_ade20k', 'make_cityscapes', 'make_pascal_context', 'make_coco_stuff10k',
    'make_coco_stuff164k', 'make_coco', 'make_imagenet', 'make_all', 'DATASET_MAKERS',
    'TINY_DATASET_CLASSES', 'COCO_CATEGORIES', 'MARKER_NAME'
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


# ----------------------------------------------------------------------------------------------
# Planning and writing: never over a file this module did not write
# ----------------------------------------------------------------------------------------------
#: The file, in the target folder (the ``root`` of the makers), that lists every file written
#: under it, as paths relative to it. A folder holding it is earlier output of this module and
#: may be written into again; only the files it lists are ever replaced.
MARKER_NAME = '.mmhybrid-tiny-datasets.json'

#: How many offending paths a refusal names.
_NUM_NAMED = 5


@dataclass
class _Plan:
    """One dataset to write, known in full before anything is written.

    ``folder`` is its data root relative to the target folder and ``files`` are every file it
    writes, relative to ``folder``; both use ``/`` separators. ``write`` renders the files
    through a :class:`_Writer`, which accepts no other path.
    """
    folder: str
    files: List[str]
    write: Callable[['_Writer'], None]


class _Writer:
    """Writes the planned files of one dataset, each atomically, and refuses any other path."""

    def __init__(self, data_root: str, planned: Sequence[str]):
        self.data_root = data_root
        self._planned = set(planned)

    def _path(self, rel: str) -> str:
        if rel not in self._planned:
            raise RuntimeError(f'{rel} is not among the planned files of {self.data_root}; '
                               'every file written must be listed in its _Plan.')
        return osp.join(self.data_root, *rel.split('/'))

    def image(self, rel: str, array: np.ndarray) -> None:
        """Save an image array as JPEG (quality 92) or PNG, by the extension of ``rel``."""
        jpeg = rel.lower().endswith(('.jpg', '.jpeg'))
        with atomic_output(self._path(rel)) as tmp:
            if jpeg:
                Image.fromarray(array).save(tmp, format='JPEG', quality=92)
            else:
                Image.fromarray(array).save(tmp, format='PNG')

    def text(self, rel: str, text: str) -> None:
        atomic_write_bytes(text.encode('utf-8'), self._path(rel))


def _first_few(paths: Sequence[str]) -> str:
    named = ', '.join(paths[:_NUM_NAMED])
    return named + (', ...' if len(paths) > _NUM_NAMED else '')


def _read_marker(root: str) -> Optional[Set[str]]:
    """The files listed in the marker of ``root``, or ``None`` if there is no marker.

    Raises:
        FileExistsError: there is a file of that name, but not a list this module wrote.
    """
    path = osp.join(root, MARKER_NAME)
    if not osp.lexists(path):
        return None
    try:
        with open(path, encoding='utf-8') as file:
            files = json.load(file)['files']
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise ValueError('"files" is not a list of paths')
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FileExistsError(
            f'{path} is not a list of files written by make_tiny_datasets ({exc}), so the '
            f'folder {root} is not recognised as its earlier output; nothing was written. '
            'Choose a different (empty or new) folder.') from exc
    return set(files)


def _check_target(root: str, plans: Sequence[_Plan], overwrite: bool) -> Set[str]:
    """Refuse to write the plans into ``root`` if that could touch files not written here.

    Returns:
        set[str]: the files listed in the marker of ``root`` (empty if it has none).

    Raises:
        FileExistsError: ``root`` is not a folder; or it is not empty, holds no marker and
            ``overwrite`` is false; or a planned file already exists and is not listed in the
            marker, or one of its folders is a file or a symbolic link (``overwrite`` does not
            lift this).
    """
    if osp.lexists(root) and not osp.isdir(root):
        raise FileExistsError(f'The target {root} exists and is not a folder; nothing was '
                              'written. Choose a different (empty or new) folder.')
    listed = _read_marker(root)
    if listed is None and not overwrite and osp.isdir(root):
        entries = sorted(os.listdir(root))
        if entries:
            raise FileExistsError(
                f'The target folder {root} is not empty (found: {_first_few(entries)}) and '
                f'has no {MARKER_NAME}, so it is not earlier output of make_tiny_datasets and '
                'may hold a real dataset; nothing was written. Choose a different (empty or '
                'new) folder, e.g. data/tiny, or pass --overwrite (overwrite=True) to add the '
                'tiny datasets beside these files (files it did not write are never replaced).')
    listed = listed or set()
    conflicts, folders, total = [], set(), 0
    for plan in plans:
        for rel in plan.files:
            path = f'{plan.folder}/{rel}'
            total += 1
            parts = path.split('/')
            folders.update('/'.join(parts[:depth]) for depth in range(1, len(parts)))
            if path not in listed and osp.lexists(osp.join(root, *parts)):
                conflicts.append(path)
    for folder in sorted(folders):
        full = osp.join(root, *folder.split('/'))
        if osp.islink(full):
            conflicts.append(f'{folder} (a symbolic link)')
        elif osp.lexists(full) and not osp.isdir(full):
            conflicts.append(f'{folder} (not a folder)')
    if conflicts:
        raise FileExistsError(
            f'{root} already holds {len(conflicts)} path(s) that make_tiny_datasets would '
            f'write ({total} files in all) but did not write itself (they are not listed in '
            f'{MARKER_NAME}): {_first_few(conflicts)}. Nothing was written. Choose a different '
            '(empty or new) folder, e.g. data/tiny; --overwrite (overwrite=True) never replaces '
            'files it did not write.')
    return listed


def _write_marker(root: str, files: Set[str]) -> None:
    content = dict(
        written_by='mmhybrid.testing.tiny_datasets (tools/dataset_converters/'
        'make_tiny_datasets.py)',
        note='Every file listed (relative to this folder) was written by make_tiny_datasets, '
        'which may write them again; it never writes over a file not listed here.',
        files=sorted(files))
    atomic_write_bytes((json.dumps(content, indent=1) + '\n').encode('utf-8'),
                       osp.join(root, MARKER_NAME))


def _make(root: str, plans: Sequence[_Plan], overwrite: bool) -> List[str]:
    """Check the target, record the planned files in its marker, then write them.

    The marker is written first (listing the earlier files too), so that a run that is
    interrupted can simply be repeated.

    Returns:
        list[str]: the data root of each plan, in order.
    """
    listed = _check_target(root, plans, overwrite)
    os.makedirs(root, exist_ok=True)
    _write_marker(root, listed | {f'{plan.folder}/{rel}' for plan in plans for rel in plan.files})
    data_roots = []
    for plan in plans:
        data_root = osp.join(root, *plan.folder.split('/'))
        plan.write(_Writer(data_root, plan.files))
        data_roots.append(data_root)
    return data_roots


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


def _split_counts(num_train: int, num_val: int) -> Dict[str, int]:
    if num_train < 1 or num_val < 1:
        raise ValueError(f'num_train and num_val must be >= 1, got {num_train}, {num_val}')
    return dict(train=num_train, val=num_val)


# ----------------------------------------------------------------------------------------------
# Semantic segmentation
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# Detection / instance segmentation
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# Classification
# ----------------------------------------------------------------------------------------------
def _plan_imagenet(num_train: int, num_val: int, size: Size, seed: int) -> _Plan:
    _, classes = TINY_DATASET_CLASSES['imagenet']
    samples = []  # (file relative to the data root, look index)
    meta = {}
    for split, count in _split_counts(num_train, num_val).items():
        lines = []
        for i in range(count):
            look_index = i % len(classes)
            label = classes[look_index][0]
            if split == 'train':
                wnid = _IMAGENET_WNIDS[label]
                rel = f'{wnid}/{wnid}_{i + 1}.JPEG'
            else:
                rel = f'ILSVRC2012_val_{i + 1:08d}.JPEG'
            samples.append((f'{split}/{rel}', look_index))
            lines.append(f'{rel} {label}')
        meta[f'meta/{split}.txt'] = '\n'.join(lines) + '\n'

    def write(writer: _Writer) -> None:
        rng = np.random.default_rng(seed)
        for rel, look_index in samples:
            img, _, _ = _render(
                size, rng, [look_index], radius_range=(0.28, 0.45), allow_overlap=False)
            writer.image(rel, img)
        for rel, text in meta.items():
            writer.text(rel, text)

    return _Plan('imagenet', [rel for rel, _ in samples] + list(meta), write)


def make_imagenet(root: str,
                  num_train: int = 24,
                  num_val: int = 12,
                  size: Size = (96, 80),
                  seed: int = 0,
                  overwrite: bool = False) -> str:
    """Write a tiny ImageNet-1k in mmpretrain's layout, with six classes (labels 0-5).

    Layout: ``train/<wnid>/<wnid>_%d.JPEG``, ``val/ILSVRC2012_val_%08d.JPEG`` and
    ``meta/{train,val}.txt`` (``<path relative to the split folder> <label>`` per line). Labels
    are the real ImageNet-1k indices of the six classes (tench ... electric ray, wnids
    ``n01440764`` ... ``n01496331``), so the default 1000 ``ImageNet`` classes apply. The meta
    files are required: without ``ann_file``, mmpretrain scans the class folders and asserts
    there are 1000 of them. Images are spread round-robin over the classes; each shows one
    large object of its class plus small dull distractors. ``overwrite`` and the refusals are
    those of :func:`make_all`.

    Returns:
        str: ``<root>/imagenet``, the ``data_root`` of mmpretrain's ImageNet base configs
        (``split='train'``/``'val'`` finds ``meta/<split>.txt`` by itself).
    """
    return _make(root, [_plan_imagenet(num_train, num_val, size, seed)], overwrite)[0]


#: Name -> maker, the keys accepted by :func:`make_all`.
DATASET_MAKERS = dict(
    ade20k=make_ade20k,
    cityscapes=make_cityscapes,
    pascal_context=make_pascal_context,
    coco_stuff10k=make_coco_stuff10k,
    coco_stuff164k=make_coco_stuff164k,
    coco=make_coco,
    imagenet=make_imagenet)

#: Name -> planner: the files of that maker, and how to write them, without writing.
_PLANNERS = dict(
    ade20k=_plan_ade20k,
    cityscapes=_plan_cityscapes,
    pascal_context=_plan_pascal_context,
    coco_stuff10k=_plan_coco_stuff10k,
    coco_stuff164k=_plan_coco_stuff164k,
    coco=_plan_coco,
    imagenet=_plan_imagenet)


def _plan_with_defaults(name: str, **kwargs) -> _Plan:
    """The plan of maker ``name`` called with ``kwargs``, its own defaults filling the rest."""
    arguments = inspect.signature(DATASET_MAKERS[name]).bind('', **kwargs)
    arguments.apply_defaults()
    planner_args = {key: value for key, value in arguments.arguments.items()
                    if key not in ('root', 'overwrite')}
    return _PLANNERS[name](**planner_args)


def make_all(root: str,
             names: Optional[Sequence[str]] = None,
             seed: int = 0,
             overwrite: bool = False,
             **kwargs) -> Dict[str, str]:
    """Write every tiny dataset (or those in ``names``) under ``root``.

    Nothing a user had is written over. ``root`` must be empty or new, or earlier output of
    these makers, recognised by the file :data:`MARKER_NAME` that every run writes in ``root``
    (listing every file it wrote there, relative to ``root``). All files are planned before
    any is written, and if one of them exists but is not listed in the marker, nothing is
    written. The same holds for each ``make_*`` function.

    Args:
        root (str): The parent folder.
        names (Sequence[str], optional): Keys among ``ade20k``, ``cityscapes``,
            ``pascal_context``, ``coco_stuff10k``, ``coco_stuff164k``, ``coco``, ``imagenet``.
            Defaults to all of them.
        seed (int): Base seed; each dataset uses it unchanged.
        overwrite (bool): Also write into a ``root`` that is neither empty nor earlier output
            of these makers, beside the files there. Even so, no file that the marker does not
            list is written over.
        **kwargs: ``num_train``/``num_val`` passed to every maker.

    Returns:
        dict[str, str]: the ``data_root`` of each dataset written, keyed by name.

    Raises:
        FileExistsError: ``root`` is not empty, holds no marker and ``overwrite`` is false; or
            a file to write already exists and is not listed in the marker (whatever
            ``overwrite``); or ``root`` or a folder to write into is a file or a symbolic link
            (``root`` itself may be a link to a folder). Nothing is written then.
    """
    names = list(DATASET_MAKERS) if names is None else list(dict.fromkeys(names))
    unknown = sorted(set(names) - set(DATASET_MAKERS))
    if unknown:
        raise ValueError(
            f'unknown tiny datasets {unknown}; choose from {sorted(DATASET_MAKERS)}')
    plans = [_plan_with_defaults(name, seed=seed, **kwargs) for name in names]
    return dict(zip(names, _make(root, plans, overwrite)))
