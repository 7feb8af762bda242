# Copyright (c) mmhybrid contributors. All rights reserved.
"""Writing files so that nothing a user had is lost.

Every tool that writes a checkpoint, an export or a dataset goes through these helpers:

* :func:`check_destination` refuses a destination that is one of the sources (also through a
  link) and an existing destination unless the caller was told ``--force``;
* :func:`atomic_output` hands out a temporary name in the destination's folder and moves it
  into place (``os.replace``, atomic on POSIX) only when the block finishes without an
  exception, after an ``fsync``. A kill at any moment leaves either the old file or the new
  one under the final name, never a half-written one.
"""
import contextlib
import os
import os.path as osp
import secrets
from typing import Iterable, Iterator, Union

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
