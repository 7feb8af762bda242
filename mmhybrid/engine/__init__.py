# Copyright (c) mmhybrid contributors. All rights reserved.
"""Runner-side pieces: checkpoints that survive kills and the choice of what to resume."""
from .checkpoint_hook import ATOMIC_BACKEND, AtomicCheckpointHook, AtomicLocalBackend
from .resume import ResumePoint, find_resumable_checkpoint

__all__ = [
    'ATOMIC_BACKEND', 'AtomicCheckpointHook', 'AtomicLocalBackend', 'ResumePoint',
    'find_resumable_checkpoint'
]
