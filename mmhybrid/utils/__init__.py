# Copyright (c) mmhybrid contributors. All rights reserved.
from .checkpoint import allow_mmengine_checkpoint_types, allow_mmengine_checkpoints
from .misc import is_library_usable

__all__ = ['allow_mmengine_checkpoint_types', 'allow_mmengine_checkpoints', 'is_library_usable']
