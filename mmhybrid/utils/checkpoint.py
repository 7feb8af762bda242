# Copyright (c) mmhybrid contributors. All rights reserved.
"""Let ``torch.load(weights_only=True)`` read the checkpoints MMEngine writes.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``. MMEngine 0.10.7 calls
``torch.load`` without that argument, and its runner checkpoints pickle a few non-tensor objects
(``HistoryBuffer`` in the message hub, numpy arrays and scalars in the logged history), so
``--resume`` and ``load_from`` fail with ``UnpicklingError: Weights only load failed``
(open-mmlab/mmengine#1655). Instead of switching safe loading off for every file, this module
adds exactly those types to torch's allow-list of safe globals; anything else in a checkpoint
is still refused.

One more object needs care: ``HistoryBuffer.__getstate__`` pickles the class-level table of
statistics functions (``min``, ``max``, ``mean``, ``current``), which pickle stores as
``getattr(HistoryBuffer, 'min')``. Allow-listing ``getattr`` would defeat safe loading, so the
four built-in functions, which every ``HistoryBuffer`` re-registers on construction anyway, are
left out of the pickle. Checkpoints written this way load with ``weights_only=True``;
checkpoints written by a plain MMEngine 0.10.7 run still need ``weights_only=False`` (trusted
files only).
"""
import importlib
import os.path as osp
import zipfile
from typing import List, Optional

import numpy as np
import torch


def _mmengine_checkpoint_globals() -> List[object]:
    from mmengine.logging.history_buffer import HistoryBuffer

    # numpy 2 renamed ``numpy.core`` to ``numpy._core``.
    multiarray = importlib.import_module(
        'numpy._core.multiarray' if np.lib.NumpyVersion(np.__version__) >= '2.0.0' else
        'numpy.core.multiarray')
    globals_ = [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        multiarray._reconstruct,
        multiarray.scalar,
    ]
    # numpy >= 1.25 pickles dtypes through their classes, e.g. numpy.dtypes.Float64DType.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        globals_ += [
            getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')
        ]
    return globals_


_BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_getstate(self) -> dict:
    """``HistoryBuffer.__getstate__`` without the built-in statistics functions."""
    state = dict(self.__dict__)
    state['statistics_methods'] = {
        name: method
        for name, method in self._statistics_methods.items()
        if name not in _BUILTIN_STATISTICS
    }
    return state


def allow_mmengine_checkpoints() -> bool:
    """Allow-list the types MMEngine runner checkpoints contain for safe ``torch.load``.

    Also makes ``HistoryBuffer`` pickle without ``getattr`` (see the module docstring).
    Idempotent. Returns ``False`` (doing nothing) on torch versions without
    ``torch.serialization.add_safe_globals`` (torch < 2.4), where loading was never restricted
    by default.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return False
    from mmengine.logging.history_buffer import HistoryBuffer
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    add_safe_globals(_mmengine_checkpoint_globals())
    return True


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be a checkpoint to resume from, or ``None`` if it is intact.

    Checkpoints written by ``torch.save`` (torch >= 1.6) are zip archives whose records carry
    CRC-32 checksums: a file cut short loses its central directory and a damaged one fails the
    checksum, so this is decided without unpickling anything.
    """
    if not path:
        return 'no file named'
    if not osp.isfile(path):
        return 'does not exist'
    size = osp.getsize(path)
    if size == 0:
        return 'is empty (0 bytes)'
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError) as exc:
        return f'is truncated or corrupt ({size} bytes: {exc})'
    if damaged is not None:
        return f'is corrupt ({size} bytes; record {damaged!r} fails its checksum)'
    return None
