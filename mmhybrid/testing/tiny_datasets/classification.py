# Copyright (c) mmhybrid contributors. All rights reserved.
"""Classification: a tiny ImageNet-1k in mmpretrain's layout."""
import numpy as np

from .classes import _IMAGENET_WNIDS, TINY_DATASET_CLASSES
from .render import Size, _render
from .writing import _make, _Plan, _split_counts, _Writer


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

