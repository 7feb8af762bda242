# Copyright (c) mmhybrid contributors. All rights reserved.
"""Reading a config's dataloaders: their leaf dataset configs (through dataset wrappers) and
the label values a segmentation model expects.

Shared by the checks (:mod:`.folder_checks`, :mod:`.sample_checks`), the error reports of
:mod:`.transforms` and :mod:`mmhybrid.apis.short_run`; nothing here imports mmseg, mmdet or
mmpretrain.
"""
from typing import Any, Iterator, Optional, Tuple

__all__ = ['DATALOADER_KEYS', 'iter_leaf_dataset_cfgs', 'segmentation_label_spec']

#: The dataloaders of an MMEngine config, in the order they are checked.
DATALOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')

DEFAULT_IGNORE_INDEX = 255


def _get(node: Any, key: str, default: Any = None) -> Any:
    return node.get(key, default) if hasattr(node, 'get') else default


def iter_leaf_dataset_cfgs(dataset_cfg: Any, key: str) -> Iterator[Tuple[Any, str]]:
    """Yield ``(leaf dataset config, its config key)``, looking through dataset wrappers.

    ``ConcatDataset`` nests ``datasets`` (a list), ``RepeatDataset``, ``ClassBalancedDataset``
    and mmdet's ``MultiImageMixDataset`` nest ``dataset``; the key of each leaf is the path to
    fix in the config, e.g. ``train_dataloader.dataset.dataset``.
    """
    if not hasattr(dataset_cfg, 'get'):
        return
    nested = dataset_cfg.get('datasets', None)
    if isinstance(nested, (list, tuple)):
        for index, sub in enumerate(nested):
            yield from iter_leaf_dataset_cfgs(sub, f'{key}.datasets[{index}]')
        return
    nested = dataset_cfg.get('dataset', None)
    if hasattr(nested, 'get') and 'type' in nested:
        yield from iter_leaf_dataset_cfgs(nested, f'{key}.dataset')
        return
    yield dataset_cfg, key


def segmentation_label_spec(cfg: Any) -> Tuple[Optional[int], int]:
    """``(num_classes, ignore_index)`` of the model's decode head (``(None, 255)`` if none).

    ``ignore_index`` is ``decode_head.ignore_index``, else the first ``loss_decode`` entry's
    ``ignore_index``, else 255 (mmseg's default). A list of decode heads (cascade models) uses
    the first one.
    """
    head = _get(_get(cfg, 'model'), 'decode_head')
    if isinstance(head, (list, tuple)):
        head = head[0] if head else None
    if not hasattr(head, 'get'):
        return None, DEFAULT_IGNORE_INDEX
    ignore_index = head.get('ignore_index', None)
    if ignore_index is None:
        losses = head.get('loss_decode', None)
        losses = losses if isinstance(losses, (list, tuple)) else [losses]
        for loss in losses:
            if _get(loss, 'ignore_index') is not None:
                ignore_index = loss['ignore_index']
                break
    if ignore_index is None:
        ignore_index = DEFAULT_IGNORE_INDEX
    return head.get('num_classes', None), int(ignore_index)
