# Copyright (c) mmhybrid contributors. All rights reserved.
"""Writing files so that nothing a user had is lost.

Every tool that writes a checkpoint, an export or a dataset goes through these helpers:

* :func:`check_destination` refuses a destination that is one of the sources (also through a
  link) and an existing destination unless the caller was told ``--force``;
* :func:`atomic_output` hands out a temporary name in the destination's folder and moves it
  into place (``os.replace``, atomic on POSIX) only when the block finishes without an
  exception, after an ``fsync``. A kill at any moment leaves either the old file or the new
  one under the final name, never a half-written one;
* :func:`check_outputs` refuses outputs that are (links to) an input file (checkpoint, config),
  equal, lie inside or contain a dataset folder the config reads (:func:`config_inputs`), or
  name the same path as another output of the same run.
"""
import contextlib
import os
import os.path as osp
import secrets
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple, Union

PathLike = Union[str, 'os.PathLike[str]']

#: Temporary files start with this prefix (hidden) and end with ``TEMP_SUFFIX``, so neither a
#: scan for a file type (``*.jpg``, ``*.pth``) nor a glob without hidden files picks them up.
TEMP_PREFIX = '.tmp-'
TEMP_SUFFIX = '.part'


def is_same_file(first: PathLike, second: PathLike) -> bool:
    """Whether two paths name the same file, following links; ``False`` if either is missing."""
    try:
        return osp.samefile(first, second)
    except OSError:
        return osp.realpath(first) == osp.realpath(second)


def check_destination(dst: PathLike, sources: Iterable[PathLike] = (), force: bool = False,
                      flag: str = '--force') -> None:
    """Refuse to write ``dst`` over one of ``sources`` or, unless ``force``, over any file.

    Raises:
        ValueError: ``dst`` is (a link to) one of the sources; ``force`` does not change this.
        FileExistsError: ``dst`` exists and ``force`` is false; the message names ``flag``.
        IsADirectoryError: ``dst`` is a folder.
    """
    for src in sources:
        if is_same_file(src, dst):
            raise ValueError(f'The destination {dst} is the source file {src} (or a link to '
                             'it): writing it would destroy the source. Choose another path.')
    if osp.isdir(dst):
        raise IsADirectoryError(f'The destination {dst} is a folder; give a file name.')
    if osp.lexists(dst) and not force:
        raise FileExistsError(f'{dst} already exists; pass {flag} to replace it, or choose '
                              'another path.')


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temporary_name(path: PathLike) -> str:
    """A fresh hidden name beside ``path``: ``<folder>/.tmp-<pid>-<random>-<basename>.part``."""
    folder, name = osp.split(osp.abspath(path))
    return osp.join(folder,
                    f'{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{name}{TEMP_SUFFIX}')


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[str]:
    """Yield a temporary path; move it to ``path`` only if the block succeeds.

    The temporary file lives in ``path``'s folder (so the final rename never crosses file
    systems), is flushed to disk before the rename, and is removed if the block raises. The
    folder is created if needed. A symlink at ``path`` is replaced, not followed.

    Example::

        with atomic_output('model.pth') as tmp:
            torch.save(state, tmp)
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        if not osp.exists(tmp):
            raise FileNotFoundError(f'Nothing was written to the temporary file {tmp} for '
                                    f'{path}.')
        with open(tmp, 'rb') as file:
            os.fsync(file.fileno())
        os.replace(tmp, path)
        _fsync_folder(folder)
    finally:
        if osp.lexists(tmp):
            os.remove(tmp)


def atomic_write_bytes(data: bytes, path: PathLike) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as tmp:
        with open(tmp, 'wb') as file:
            file.write(data)


def atomic_torch_save(obj: object, path: PathLike) -> None:
    """``torch.save(obj, path)``, atomically (see :func:`atomic_output`)."""
    import torch

    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


# ----------------------------------------------------------------------------------------------
# Outputs that would overwrite an input
# ----------------------------------------------------------------------------------------------
#: The dataloaders and evaluators of an MMEngine config whose paths :func:`config_inputs` lists.
_DATALOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
_EVALUATOR_KEYS = ('val_evaluator', 'test_evaluator')


def _join_root(data_root: str, path: str) -> str:
    """``data_root`` + ``path`` as MMEngine's ``BaseDataset`` joins them."""
    if not path or not data_root or osp.isabs(path):
        return path
    return osp.join(data_root, path)


def _is_remote(path: object) -> bool:
    return not isinstance(path, str) or '://' in path


def _dataset_inputs(node, key: str, folders: list, files: list) -> None:
    """Collect the folders and files of a dataset config and of the datasets it wraps."""
    if not hasattr(node, 'get'):
        return
    data_root = node.get('data_root', '') or ''
    if isinstance(data_root, str) and data_root and not _is_remote(data_root):
        folders.append((f'{key}.data_root', data_root))
    data_root = data_root if isinstance(data_root, str) else ''
    prefix = node.get('data_prefix', None)
    items = prefix.items() if hasattr(prefix, 'items') else [('', prefix)]
    for name, value in items:
        folder = _join_root(data_root, value) if isinstance(value, str) else None
        if folder and not _is_remote(folder):
            prefix_key = f'{key}.data_prefix' + (f'.{name}' if name else '')
            folders.append((prefix_key, folder))
    ann_file = node.get('ann_file', '') or ''
    ann_file = _join_root(data_root, ann_file) if isinstance(ann_file, str) else None
    if ann_file and not _is_remote(ann_file):
        files.append((f'{key}.ann_file', ann_file))
    nested = node.get('dataset', None)
    if hasattr(nested, 'get'):
        _dataset_inputs(nested, f'{key}.dataset', folders, files)
    nested = node.get('datasets', None)
    if isinstance(nested, (list, tuple)):
        for index, sub in enumerate(nested):
            _dataset_inputs(sub, f'{key}.datasets[{index}]', folders, files)


def config_inputs(cfg) -> Tuple[List[Tuple[str, str]], List[Tuple[str, str]]]:
    """The dataset folders and files a config reads, as ``(config key, path)`` pairs.

    Folders: every dataloader's ``data_root`` and ``data_root`` joined with each
    ``data_prefix`` value (image and label folders), through dataset wrappers
    (``dataset=``/``datasets=``). Files: every dataloader's ``ann_file`` (joined with
    ``data_root``) and the evaluators' ``ann_file`` (mmdet's ``CocoMetric``). Remote paths
    (``s3://``...) are left out. Works on a ``Config`` or plain dicts (no library imported).

    Returns:
        tuple: ``(folders, files)``.
    """
    folders: List[Tuple[str, str]] = []
    files: List[Tuple[str, str]] = []
    for key in _DATALOADER_KEYS:
        loader = cfg.get(key, None) if hasattr(cfg, 'get') else None
        if hasattr(loader, 'get'):
            _dataset_inputs(loader.get('dataset', None), f'{key}.dataset', folders, files)
    for key in _EVALUATOR_KEYS:
        evaluators = cfg.get(key, None) if hasattr(cfg, 'get') else None
        many = isinstance(evaluators, (list, tuple))
        for index, evaluator in enumerate(evaluators if many else [evaluators]):
            ann_file = evaluator.get('ann_file', None) if hasattr(evaluator, 'get') else None
            if isinstance(ann_file, str) and ann_file and not _is_remote(ann_file):
                files.append((f'{key}[{index}].ann_file' if many else f'{key}.ann_file',
                               ann_file))
    return folders, files


def _resolved(path: PathLike) -> str:
    return osp.realpath(osp.expanduser(os.fspath(path)))


def _is_within(inner: str, outer: str) -> bool:
    """Whether the resolved path ``inner`` is ``outer`` or below it."""
    try:
        return osp.commonpath([inner, outer]) == outer
    except ValueError:  # different drives
        return False


def check_outputs(outputs: Sequence[Tuple[str, Optional[PathLike]]],
                  input_files: Sequence[Tuple[str, Optional[PathLike]]] = (),
                  input_folders: Sequence[Tuple[str, Optional[PathLike]]] = (),
                  may_contain_inputs: Sequence[str] = ()) -> None:
    """Refuse outputs that would write over an input or over each other; ``--force`` does not
    change this. Paths are compared resolved (links, ``./`` and ``..`` spellings) and files
    also with ``os.path.samefile`` (hard links).

    Args:
        outputs: ``(argument, path)`` of every file or folder a tool writes, e.g.
            ``[('OUT', 'model.onnx'), ('--json', None)]`` (``None`` paths are skipped).
        input_files: ``(what, path)`` of the files it reads: ``('the checkpoint', ...)``.
        input_folders: ``(what, path)`` of the dataset folders it reads (see
            :func:`config_inputs`): an output equal to one, inside one or containing one is
            refused.
        may_contain_inputs: arguments (work dirs) that only write into new sub-folders of their
            own, so they may contain dataset folders; they still may not lie inside one.

    Raises:
        ValueError: naming the argument and the input (or the other argument) it clashes with.
    """
    named = [(arg, os.fspath(path)) for arg, path in outputs if path]
    for index, (arg, path) in enumerate(named):
        for other_arg, other in named[:index]:
            if is_same_file(path, other):
                raise ValueError(f'{arg} {path} and {other_arg} {other} are the same path: one '
                                 'output would overwrite the other. Give them different paths.')
    # The deepest folder first, so that an error names the label folder rather than data_root.
    folders = sorted(((what, folder, _resolved(folder)) for what, folder in input_folders
                      if folder), key=lambda item: -len(item[2]))
    for arg, path in named:
        resolved = _resolved(path)
        for what, src in input_files:
            if src and is_same_file(path, src):
                raise ValueError(f'{arg} {path} is the source file {src} ({what}), or a link to '
                                 'it: writing it would destroy an input of this run. Choose '
                                 'another path.')
        for what, folder, folder_resolved in folders:
            if _is_within(resolved, folder_resolved):
                where = 'is' if resolved == folder_resolved else 'is inside'
                raise ValueError(f'{arg} {path} {where} the dataset folder {folder} ({what}): '
                                 'writing there would change the data this run reads. Choose '
                                 'a path outside the dataset.')
        # the shallowest first: data_root rather than its parts
        for what, folder, folder_resolved in sorted(folders, key=lambda item: len(item[2])):
            if arg not in may_contain_inputs and _is_within(folder_resolved, resolved):
                raise ValueError(f'{arg} {path} contains the dataset folder {folder} ({what}): '
                                 'files written there could replace the data. Choose a folder '
                                 'outside the dataset.')
