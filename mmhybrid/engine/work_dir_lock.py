# Copyright (c) mmhybrid contributors. All rights reserved.
"""One training run per work dir.

Two trainings started into one work dir both run and write the same ``iter_N.pth`` names, so
the first run's checkpoints end up holding the second run's weights. :class:`WorkDirLock` is an
exclusive ``fcntl.flock`` on ``<work_dir>/.mmhybrid-train.lock``, held by the run's main
process (global rank 0: the processes of one distributed run are one run) for as long as it
trains. A second run sees the lock and refuses, naming the live run's process id, host and
start time. The operating system drops the lock when its process dies, however it dies, so a
lock file left by a killed run is taken over with a message, never blocks a new run, and
needs no clean-up.

The lock is advisory and local: it protects against runs on one machine or on a shared file
system that supports ``flock`` (NFSv4, Lustre, GPFS).
"""
import datetime
import fcntl
import json
import os
import os.path as osp
import socket
import sys
from typing import Optional

__all__ = ['LOCK_NAME', 'WorkDirLock', 'WorkDirLockedError', 'global_rank']

#: The lock file's name inside the work dir.
LOCK_NAME = '.mmhybrid-train.lock'


class WorkDirLockedError(RuntimeError):
    """Another live run holds the work dir."""


def global_rank() -> int:
    """This process's rank in a distributed run (torchrun's ``RANK``, Slurm's
    ``SLURM_PROCID``), 0 when not distributed."""
    for variable in ('RANK', 'SLURM_PROCID'):
        value = os.environ.get(variable, '')
        if value.isdigit():
            return int(value)
    return 0


def _describe(owner: dict) -> str:
    parts = [f'process {owner.get("pid", "?")}']
    if owner.get('host'):
        parts.append(f'on {owner["host"]}')
    if owner.get('started'):
        parts.append(f'started {owner["started"]}')
    if owner.get('command'):
        parts.append(f'({owner["command"]})')
    return ' '.join(parts)


class WorkDirLock:
    """Hold ``<work_dir>/.mmhybrid-train.lock`` for the duration of a run.

    Use as a context manager; :meth:`acquire` raises :class:`WorkDirLockedError` when another
    live process holds it. Processes of rank > 0 take no lock.

    Args:
        work_dir (str): The run's work dir (created if needed).
        rank (int, optional): The process's global rank (default: :func:`global_rank`).
    """

    def __init__(self, work_dir: str, rank: Optional[int] = None):
        self.work_dir = work_dir
        self.path = osp.join(work_dir, LOCK_NAME)
        self.rank = global_rank() if rank is None else rank
        self._file = None
        #: What was found and done, for the run's log (``None``: nothing worth saying).
        self.message: Optional[str] = None

    def acquire(self) -> 'WorkDirLock':
        if self.rank != 0 or self._file is not None:
            return self
        os.makedirs(self.work_dir, exist_ok=True)
        file = open(self.path, 'a+')
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = self._read_owner(file)
            file.close()
            raise WorkDirLockedError(
                f'The work dir {self.work_dir} is in use by another training run: '
                f'{_describe(owner)}. Two runs in one work dir overwrite each other\'s '
                'checkpoints. Wait for it to finish, stop it, or give this run another '
                '--work-dir.') from None
        previous = self._read_owner(file)
        if previous:
            self.message = (f'work dir {self.work_dir}: taking over the lock of a run that '
                            f'ended without releasing it ({_describe(previous)}, no longer '
                            'running).')
        owner = dict(pid=os.getpid(), host=socket.gethostname(),
                     started=datetime.datetime.now().isoformat(timespec='seconds'),
                     command=' '.join(sys.argv)[:200])
        file.seek(0)
        file.truncate()
        file.write(json.dumps(owner))
        file.flush()
        self._file = file
        return self

    def release(self) -> None:
        """Empty the lock file (an empty file is a lock released cleanly) and unlock it."""
        if self._file is None:
            return
        try:
            self._file.seek(0)
            self._file.truncate()
            self._file.flush()
        finally:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    @staticmethod
    def _read_owner(file) -> dict:
        file.seek(0)
        text = file.read().strip()
        if not text:
            return {}
        try:
            owner = json.loads(text)
        except ValueError:
            return {'pid': text[:40]}
        return owner if isinstance(owner, dict) else {}

    def __enter__(self) -> 'WorkDirLock':
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()
