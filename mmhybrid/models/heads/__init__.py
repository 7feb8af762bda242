# Copyright (c) mmhybrid contributors. All rights reserved.
"""MMPretrain classification heads; defined only when mmpretrain imports cleanly."""
from mmhybrid.utils import is_library_usable

__all__ = []

if is_library_usable('mmpretrain'):
    from .dropout_linear_cls_head import DropoutLinearClsHead  # noqa: F401
    from .topformer_cls_head import TopFormerClsHead  # noqa: F401
    __all__ += ['DropoutLinearClsHead', 'TopFormerClsHead']
