# Copyright (c) mmhybrid contributors. All rights reserved.
"""Run ``tools/train.py`` and SIGKILL it at a chosen point of its N-th checkpoint save.

Used by ``test_atomic_checkpoints.py``: ``KILL_POINT`` names the moment, ``KILL_AT`` which
occurrence (1-based) of it in this process. The process kills itself with SIGKILL, exactly as
the kernel's OOM killer or a cluster pre-emption would, so no ``finally`` block or ``atexit``
handler runs. Points:

* ``serialized``: the checkpoint is in memory, nothing written yet;
* ``half_written``: half of the checkpoint's bytes are on disk;
* ``before_rename`` / ``after_rename``: the complete file is (not yet / already) in place;
* ``half_pointer``: half of the new ``last_checkpoint`` text is written;
* ``before_prune``: the new checkpoint and pointer are written, the outdated one not yet removed.
"""
import os
import os.path as osp
import runpy
import signal
import sys

from mmengine.fileio import LocalBackend

from mmhybrid.utils import fileio

POINT = os.environ['KILL_POINT']
OCCURRENCE = int(os.environ['KILL_AT'])
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_seen = {}


def _reached(point: str) -> None:
    if point != POINT:
        return
    _seen[point] = _seen.get(point, 0) + 1
    if _seen[point] == OCCURRENCE:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def _is_checkpoint(path) -> bool:
    return str(path).endswith('.pth')


_atomic_output = fileio.atomic_output
_write_bytes = fileio.atomic_write_bytes
_replace = os.replace
_remove = LocalBackend.remove


def atomic_write_bytes(data, path):
    if _is_checkpoint(path):
        _reached('serialized')
    point = 'half_written' if _is_checkpoint(path) else (
        'half_pointer' if osp.basename(str(path)) == 'last_checkpoint' else None)
    if point is None or point != POINT:
        return _write_bytes(data, path)
    with _atomic_output(path) as tmp:
        with open(tmp, 'wb') as file:
            file.write(data[:len(data) // 2])
            file.flush()
            os.fsync(file.fileno())
            _reached(point)
            file.write(data[len(data) // 2:])


def replace(src, dst, *args, **kwargs):
    if _is_checkpoint(dst):
        _reached('before_rename')
    _replace(src, dst, *args, **kwargs)
    if _is_checkpoint(dst):
        _reached('after_rename')


def remove(self, filepath):
    if _is_checkpoint(filepath):
        _reached('before_prune')
    return _remove(self, filepath)


fileio.atomic_write_bytes = atomic_write_bytes
fileio.os.replace = replace
LocalBackend.remove = remove

import mmhybrid.engine.checkpoint_hook as checkpoint_hook  # noqa: E402

checkpoint_hook.atomic_write_bytes = atomic_write_bytes

sys.argv = [osp.join(REPO, 'tools', 'train.py')] + sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
