# Copyright (c) mmhybrid contributors. All rights reserved.
"""Run ``tools/train.py`` and SIGKILL it at a chosen point of its N-th checkpoint save.

Used by ``test_atomic_checkpoints.py``, which runs :func:`train_in_forked_child` in processes
forked from a server that imported the libraries once; by hand:
``KILL_POINT=half_written KILL_AT=2 python tests/test_engine/kill_during_save.py CONFIG [ARGS]``.
``kill_point`` names the moment, ``kill_at`` which occurrence (1-based) of it in this process.
The process kills itself with SIGKILL, exactly as the kernel's OOM killer or a cluster
pre-emption would, so no ``finally`` block or ``atexit`` handler runs. Points:

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
from typing import Optional, Sequence

from mmengine.fileio import LocalBackend

from mmhybrid.utils import fileio

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TRAIN = osp.join(REPO, 'tools', 'train.py')
POINTS = ('serialized', 'half_written', 'before_rename', 'after_rename', 'half_pointer',
          'before_prune')


def _is_checkpoint(path) -> bool:
    return str(path).endswith('.pth')


def _install_kill_point(kill_point: str, kill_at: int) -> None:
    """Wrap the checkpoint writer's file operations so that this process SIGKILLs itself at the
    ``kill_at``-th time it reaches ``kill_point``."""
    import mmhybrid.engine.checkpoint_hook as checkpoint_hook
    assert kill_point in POINTS, (kill_point, POINTS)
    seen = {}
    atomic_output, write_bytes = fileio.atomic_output, fileio.atomic_write_bytes
    replace_file, remove_file = os.replace, LocalBackend.remove

    def reached(point: str) -> None:
        if point != kill_point:
            return
        seen[point] = seen.get(point, 0) + 1
        if seen[point] == kill_at:
            sys.stdout.flush()
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    def atomic_write_bytes(data, path):
        if _is_checkpoint(path):
            reached('serialized')
        point = 'half_written' if _is_checkpoint(path) else (
            'half_pointer' if osp.basename(str(path)) == 'last_checkpoint' else None)
        if point is None or point != kill_point:
            return write_bytes(data, path)
        with atomic_output(path) as tmp:
            with open(tmp, 'wb') as file:
                file.write(data[:len(data) // 2])
                file.flush()
                os.fsync(file.fileno())
                reached(point)
                file.write(data[len(data) // 2:])

    def replace(src, dst, *args, **kwargs):
        if _is_checkpoint(dst):
            reached('before_rename')
        replace_file(src, dst, *args, **kwargs)
        if _is_checkpoint(dst):
            reached('after_rename')

    def remove(self, filepath):
        if _is_checkpoint(filepath):
            reached('before_prune')
        return remove_file(self, filepath)

    fileio.atomic_write_bytes = atomic_write_bytes
    fileio.os.replace = replace
    LocalBackend.remove = remove
    checkpoint_hook.atomic_write_bytes = atomic_write_bytes


def run_train_tool(argv: Sequence[str], kill_point: Optional[str] = None,
                   kill_at: int = 2) -> None:
    """``tools/train.py ARGV`` as ``__main__`` of this process, killed at ``kill_point`` of its
    ``kill_at``-th checkpoint save if given."""
    if kill_point is not None:
        _install_kill_point(kill_point, kill_at)
    sys.argv = [TRAIN, *argv]
    runpy.run_path(TRAIN, run_name='__main__')


def train_in_forked_child(argv: Sequence[str], kill_point: Optional[str], kill_at: int,
                          log: str) -> None:
    """The body of one run forked by ``test_atomic_checkpoints.py``: stdout and stderr to
    ``log``, one intra-op thread (as ``OMP_NUM_THREADS=1`` gives a fresh process), then
    :func:`run_train_tool`."""
    import torch
    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)
    os.environ.update(PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    torch.set_num_threads(1)
    try:
        run_train_tool(argv, kill_point, kill_at)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


if __name__ == '__main__':
    run_train_tool(sys.argv[1:], os.environ.get('KILL_POINT'),
                   int(os.environ.get('KILL_AT', '2')))
