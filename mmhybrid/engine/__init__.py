# Copyright (c) mmhybrid contributors. All rights reserved.
"""Runner-side pieces: checkpoints that survive kills, a guard against divergence, one run per
work dir, the choice of what to resume, and forward-only ``torch.compile``."""
from .checkpoint_hook import ATOMIC_BACKEND, AtomicCheckpointHook, AtomicLocalBackend
from .compile_hook import CompileForwardHook
from .divergence_guard import DivergenceError, DivergenceGuardHook
from .resume import ResumePoint, find_resumable_checkpoint
from .work_dir_lock import WorkDirLock, WorkDirLockedError

__all__ = [
    'ATOMIC_BACKEND', 'AtomicCheckpointHook', 'AtomicLocalBackend', 'CompileForwardHook',
    'DivergenceError', 'DivergenceGuardHook', 'ResumePoint', 'WorkDirLock',
    'WorkDirLockedError', 'find_resumable_checkpoint'
]
