# Copyright (c) mmhybrid contributors. All rights reserved.
"""Planning and writing: never over a file these makers did not write.

Every file is planned (:class:`_Plan`) before the first one is written; :func:`_make` refuses
(:class:`FileExistsError`) a target that could hold files not written here, records the planned
files in the marker :data:`MARKER_NAME`, then writes them through a :class:`_Writer`.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Set

import numpy as np
from PIL import Image

from ...utils.fileio import atomic_output, atomic_write_bytes

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


def _split_counts(num_train: int, num_val: int) -> Dict[str, int]:
    if num_train < 1 or num_val < 1:
        raise ValueError(f'num_train and num_val must be >= 1, got {num_train}, {num_val}')
    return dict(train=num_train, val=num_val)

