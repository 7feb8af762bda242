# Copyright (c) mmhybrid contributors. All rights reserved.
"""Runner-side pieces: checkpoints that survive kills, the choice of what to resume, and
forward-only ``torch.compile``."""
from .checkpoint_hook import ATOMIC_BACKEND, AtomicCheckpointHook, AtomicLocalBackend
from .compile_hook import CompileForwardHook
from .resume import ResumePoint, find_resumable_checkpoint

__all__ = [
    'ATOMIC_BACKEND', 'AtomicCheckpointHook', 'AtomicLocalBackend', 'CompileForwardHook',
    'ResumePoint', 'find_resumable_checkpoint'
]
