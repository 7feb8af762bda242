# Copyright (c) mmhybrid contributors. All rights reserved.
"""MMSegmentation decode heads; defined only when mmseg imports cleanly."""
from mmhybrid.utils import is_library_usable

__all__ = []

if is_library_usable('mmseg'):
    from .topformer_head import TopFormerHead  # noqa: F401
    __all__ += ['TopFormerHead']
