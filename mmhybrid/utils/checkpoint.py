# Copyright (c) mmhybrid contributors. All rights reserved.
"""Let ``torch.load(weights_only=True)`` read the checkpoints MMEngine writes.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``. MMEngine 0.10.7 calls
``torch.load`` without that argument, and its runner checkpoints pickle a few non-tensor objects
(``HistoryBuffer`` in the message hub, numpy arrays and scalars in the logged history), so
``--resume`` and ``load_from`` fail with ``UnpicklingError: Weights only load failed``
(open-mmlab/mmengine#1655). Instead of switching safe loading off for every file, this module
adds exactly those types to torch's allow-list of safe globals; anything else in a checkpoint
is still refused.

What importing mmhybrid changes in MMEngine
-------------------------------------------
Nothing. ``import mmhybrid`` (and ``import mmhybrid.models``) only registers the project's
modules into its registries; MMEngine's classes and torch's allow-list are left as they are
(``tests/test_import_side_effects.py``). The two process-wide changes that runner checkpoints
need are made explicitly, by the code that reads or writes such a checkpoint:

1. :func:`allow_mmengine_checkpoint_types` adds ``HistoryBuffer`` and the numpy types of
   :func:`_mmengine_checkpoint_globals` to :func:`torch.serialization.add_safe_globals`. Every
   mmhybrid function that reads a checkpoint calls it first:
   :func:`mmhybrid.utils.state_dict.load_checkpoint_file` and
   :func:`~mmhybrid.utils.state_dict.read_checkpoint` (``tools/test.py``, ``tools/train.py``'s
   ``load_from``/``--resume`` checks, :func:`mmhybrid.apis.get_model`, the task-model builder),
   ``init_cfg=dict(type='Pretrained')`` of the backbones
   (:func:`mmhybrid.models.backbones.base_backbone.load_pretrained`) and the converters'
   :func:`mmhybrid.utils.converters.load_source_checkpoint`.
2. :func:`allow_mmengine_checkpoints` does that and :func:`patch_history_buffer_pickling`,
   which replaces ``HistoryBuffer.__getstate__``. MMEngine's own version pickles the
   class-level table of statistics functions (``min``, ``max``, ``mean``, ``current``), which
   pickle stores as ``getattr(HistoryBuffer, 'min')``; allow-listing ``getattr`` would defeat
   safe loading. The replacement leaves those four built-in functions out of the pickle (every
   ``HistoryBuffer`` re-registers them when it is built or unpickled); custom statistics
   registered with ``HistoryBuffer.register_statistics`` are still pickled.
   :func:`restore_history_buffer_pickling` puts MMEngine's version back. It is called where
   runner checkpoints are written or resumed from:
   :func:`mmhybrid.apis.runner_setup.build_runner` (the runner of ``tools/train.py`` and
   ``tools/test.py``, whose ``Runner.resume``/``load_checkpoint`` read them) and
   :class:`mmhybrid.engine.AtomicCheckpointHook` when it is built (a config that selects the
   hook under another launcher).

Both are idempotent and cheap (a few membership tests once done), so they are called on every
read; both act on the whole process once called, nothing else in MMEngine is touched.

So, with torch >= 2.6:

- checkpoints written by ``tools/train.py`` (or any runner with ``AtomicCheckpointHook``) load
  with ``torch.load(path, weights_only=True)`` in a process that called
  :func:`allow_mmengine_checkpoint_types` (or any mmhybrid function that reads checkpoints);
- checkpoints written by a plain MMEngine 0.10.7 run (no mmhybrid runner set-up) hold that
  ``getattr`` and are refused by safe loading, with an error naming ``builtins.getattr``
  (:func:`unsafe_load_hint` turns it into the sentence below). They still load with
  ``torch.load(path, weights_only=False)``, which runs arbitrary pickled code: for trusted files
  only.
"""
import functools
import importlib
import os.path as osp
import zipfile
from typing import Optional, Tuple

import numpy as np
import torch


@functools.lru_cache(maxsize=None)
def _mmengine_checkpoint_globals() -> Tuple[object, ...]:
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
    return tuple(globals_)


_BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')

#: MMEngine's ``HistoryBuffer.__getstate__``, kept by :func:`patch_history_buffer_pickling`.
_original_getstate = None


def _history_buffer_getstate(self) -> dict:
    """``HistoryBuffer.__getstate__`` without the built-in statistics functions (installed by
    :func:`patch_history_buffer_pickling`)."""
    state = dict(self.__dict__)
    state['statistics_methods'] = {
        name: method
        for name, method in self._statistics_methods.items()
        if name not in _BUILTIN_STATISTICS
    }
    return state


def patch_history_buffer_pickling() -> None:
    """Replace MMEngine's ``HistoryBuffer.__getstate__`` so that the pickle of a message hub
    needs no ``getattr`` (see the module docstring). Process-wide and idempotent."""
    global _original_getstate
    from mmengine.logging.history_buffer import HistoryBuffer
    if HistoryBuffer.__getstate__ is not _history_buffer_getstate:
        _original_getstate = HistoryBuffer.__getstate__
        HistoryBuffer.__getstate__ = _history_buffer_getstate


def restore_history_buffer_pickling() -> None:
    """Put MMEngine's own ``HistoryBuffer.__getstate__`` back (undoes
    :func:`patch_history_buffer_pickling`; checkpoints saved afterwards need
    ``weights_only=False`` again)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if HistoryBuffer.__getstate__ is _history_buffer_getstate and _original_getstate is not None:
        HistoryBuffer.__getstate__ = _original_getstate


def history_buffer_pickling_patched() -> bool:
    """Whether ``HistoryBuffer.__getstate__`` is mmhybrid's (checkpoints load safely)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    return HistoryBuffer.__getstate__ is _history_buffer_getstate


def allow_mmengine_checkpoint_types() -> bool:
    """Allow-list the types MMEngine runner checkpoints contain (``HistoryBuffer``, numpy arrays,
    dtypes and scalars) for safe ``torch.load``: step 1 of "What importing mmhybrid changes in
    MMEngine" in the module docstring. Called by every mmhybrid function that reads a checkpoint.

    Idempotent and cheap: only the types missing from torch's list are added (so it also
    repairs a list cleared with ``torch.serialization.clear_safe_globals``). Returns ``False``
    (doing nothing) on torch versions without ``torch.serialization.add_safe_globals``
    (torch < 2.4), where loading was never restricted by default.
    """
    serialization = torch.serialization
    add_safe_globals = getattr(serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return False
    present = serialization.get_safe_globals()
    missing = [g for g in _mmengine_checkpoint_globals() if g not in present]
    if missing:
        add_safe_globals(missing)
    return True


def allow_mmengine_checkpoints() -> bool:
    """Let this process write runner checkpoints that load safely and read them back:
    :func:`allow_mmengine_checkpoint_types` and :func:`patch_history_buffer_pickling` (steps 1
    and 2 of "What importing mmhybrid changes in MMEngine" in the module docstring). Called by
    :func:`mmhybrid.apis.runner_setup.build_runner` and
    :class:`mmhybrid.engine.AtomicCheckpointHook`.

    Idempotent and cheap. Returns ``False`` (doing nothing) on torch versions without
    ``torch.serialization.add_safe_globals`` (torch < 2.4), where loading was never restricted
    by default.
    """
    if not allow_mmengine_checkpoint_types():
        return False
    patch_history_buffer_pickling()
    return True


def unsafe_load_hint(exc: BaseException) -> Optional[str]:
    """For the error of a safe ``torch.load`` of a checkpoint written by plain MMEngine (its
    pickle calls ``builtins.getattr``), what the file is and how to load it; else ``None``."""
    message = str(exc)
    if 'getattr' not in message or 'Weights only load failed' not in message and \
            'weights_only' not in message:
        return None
    return ('it was written by MMEngine without mmhybrid\'s runner set-up (its HistoryBuffer '
            'pickles builtins.getattr, which safe loading refuses). If you trust the file, load '
            'it with '
            '`torch.load(path, weights_only=False)`; checkpoints written by mmhybrid\'s runner '
            '(tools/train.py) load safely.')


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
