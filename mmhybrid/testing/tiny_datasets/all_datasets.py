# Copyright (c) mmhybrid contributors. All rights reserved.
"""Every maker by name, and :func:`make_all`, which writes several in one planned run."""
import inspect
from typing import Dict, Optional, Sequence

from .classification import _plan_imagenet, make_imagenet
from .detection import _plan_coco, make_coco
from .segmentation import (
    _plan_ade20k,
    _plan_cityscapes,
    _plan_coco_stuff10k,
    _plan_coco_stuff164k,
    _plan_pascal_context,
    make_ade20k,
    make_cityscapes,
    make_coco_stuff10k,
    make_coco_stuff164k,
    make_pascal_context,
)
from .writing import _make, _Plan

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
